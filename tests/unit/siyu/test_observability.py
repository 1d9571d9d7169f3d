"""JSON log lines, bounded metric labels and the observability settings (no I/O)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from api.observability import route_of
from siyu.logs import JsonFormatter
from siyu.metrics import MAX_OPERATIONS, RequestMetrics
from siyu.settings import SettingsError, from_env


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise KeyError("boom")
        except KeyError:
            info = sys.exc_info()
    return logging.LogRecord("siyu.test", logging.WARNING, __file__, 1, message, args, info)


def test_a_json_log_line_holds_the_message_and_only_the_standard_fields() -> None:
    line = json.loads(JsonFormatter().format(record("read model %s at %d", "staff", 42)))
    assert line["message"] == "read model staff at 42"
    assert line["level"] == "WARNING" and line["logger"] == "siyu.test"
    assert set(line) == {"ts", "level", "logger", "message", "process", "thread"}
    assert line["ts"].endswith("+00:00")


def test_a_json_log_line_of_an_exception_names_its_class_on_one_line() -> None:
    text = JsonFormatter().format(record("failed", exc=True))
    assert "\n" not in text
    line = json.loads(text)
    assert line["error"] == "KeyError" and "Traceback" in line["traceback"]


def test_operation_labels_are_names_and_bounded() -> None:
    metrics = RequestMetrics(CollectorRegistry())
    assert metrics.operation(None) == "anonymous"
    assert metrics.operation("profile query; DROP") == "other"
    for n in range(MAX_OPERATIONS):
        assert metrics.operation(f"Op{n}") == f"Op{n}"
    assert metrics.operation("OneTooMany") == "other"
    assert metrics.operation("Op7") == "Op7"  # known names keep their label


def test_request_latency_is_exported_by_route_operation_and_status() -> None:
    registry = CollectorRegistry()
    RequestMetrics(registry).observe("/graphql", "Profile", 200, 0.004)
    text = generate_latest(registry).decode()
    assert ('siyu_requests_seconds_bucket{le="0.005",operation="Profile",route="/graphql",'
            'status="200"} 1.0') in text


@pytest.mark.parametrize(("path", "route"), [
    ("/graphql", "/graphql"), ("/readyz", "/readyz"),
    ("/exports/segments/1f0c/members.csv", "/exports/segments/{segment_id}/members.csv"),
    ("/wp-admin/x", "other")], ids=["graphql", "readyz", "export", "unknown"])
def test_paths_are_reported_as_routes(path: str, route: str) -> None:
    assert route_of(path) == route


def test_observability_settings_default_and_refuse_nonsense(tmp_path: Path) -> None:
    base = {"SIYU_DATA_DIR": str(tmp_path), "SIYU_SECRET": "s"}
    settings = from_env(base)
    assert (settings.log_format, settings.worker_metrics_port,
            settings.projections_metrics_port, settings.ready_max_lag) == (
        "json", 9101, 9102, 10_000)
    assert from_env({**base, "SIYU_WORKER_METRICS_PORT": ""}).worker_metrics_port is None
    for name, value in (("SIYU_LOG_FORMAT", "xml"), ("SIYU_WORKER_METRICS_PORT", "70000"),
                        ("SIYU_READY_MAX_LAG", "-1")):
        with pytest.raises(SettingsError, match=name):
            from_env({**base, name: value})
