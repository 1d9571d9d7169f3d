"""The API's hardening settings: production mode, budgets, rates, body size, persisted
queries; and ``siyu persisted-queries add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.persisted import PersistedQueries, sha256_hex
from siyu.api_process import api_limits
from siyu.cli import main
from siyu.settings import SettingsError, from_env


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"SIYU_DATA_DIR": str(tmp_path), "SIYU_SECRET": "s" * 32, **values}


def test_unset_means_development_with_the_default_limits(tmp_path: Path) -> None:
    limits = api_limits(from_env(env(tmp_path)))
    assert not limits.production and limits.persisted is None and not limits.require_persisted
    assert limits.budget("staff") == 25_000 and limits.budget("customer") == 5_000
    assert limits.rate("service") == 6_000 and limits.max_body == 8 * 1024 * 1024


def test_budgets_and_rates_are_set_per_principal_kind(tmp_path: Path) -> None:
    limits = api_limits(from_env(env(
        tmp_path, SIYU_ENV="production", SIYU_QUERY_COST_BUDGETS="staff=1000, default=9",
        SIYU_RATE_LIMITS="customer=0", SIYU_MAX_BODY_BYTES="65536")))
    assert limits.production
    assert (limits.budget("staff"), limits.budget("service"), limits.budget("customer")) == (
        1000, 9, 5_000)
    assert limits.rate("customer") == 0 and limits.max_body == 65_536


@pytest.mark.parametrize(("values", "named"), [
    ({"SIYU_ENV": "prod"}, "SIYU_ENV"),
    ({"SIYU_ENV": "production", "SIYU_DEBUG": "1"}, "SIYU_DEBUG"),
    ({"SIYU_QUERY_COST_BUDGETS": "admin=5"}, "SIYU_QUERY_COST_BUDGETS"),
    ({"SIYU_RATE_LIMITS": "staff=-1"}, "SIYU_RATE_LIMITS"),
    ({"SIYU_RATE_LIMITS": "staff=1,staff=2"}, "SIYU_RATE_LIMITS"),
    ({"SIYU_MAX_BODY_BYTES": "12"}, "SIYU_MAX_BODY_BYTES"),
    ({"SIYU_REQUIRE_PERSISTED_QUERIES": "1"}, "SIYU_REQUIRE_PERSISTED_QUERIES"),
], ids=["env", "debug-in-production", "kind", "negative", "twice", "tiny-body", "no-manifest"])
def test_a_malformed_hardening_setting_is_refused_naming_the_variable(
        tmp_path: Path, values: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        from_env(env(tmp_path, **values))


def test_a_manifest_whose_ids_are_not_the_hashes_stops_the_server(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1,
                                "operations": [{"id": "0" * 64, "body": "{ me { id } }"}]}))
    with pytest.raises(ValueError, match="SHA-256"):
        api_limits(from_env(env(tmp_path, SIYU_PERSISTED_QUERIES=str(path))))


def test_the_command_registers_named_operations_with_their_fragments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env(tmp_path).items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "app.graphql"
    source.write_text("query Me { me { id } }\nquery Staff { staffMembers { ...S } }\n"
                      "fragment S on StaffMember { id role }\n")
    manifest = tmp_path / "persisted.json"
    # When the front end's operations are registered
    assert main(["persisted-queries", "add", str(source), "--manifest", str(manifest)]) == 0
    # Then each is in the manifest under the hash of the text it is sent as
    loaded = PersistedQueries.load(manifest)
    bodies = {op.name: op.body for op in loaded.operations.values()}
    assert set(bodies) == {"Me", "Staff"} and "fragment S on StaffMember" in bodies["Staff"]
    assert all(op.id == sha256_hex(op.body) for op in loaded.operations.values())
    assert loaded.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(
        bodies["Me"])}}, require=True) == bodies["Me"]
    assert capsys.readouterr().out.endswith(f"2 operation(s) in {manifest}\n")


@pytest.mark.parametrize("text", ["{ me { id } }", "query Bad { nope }",
                                  "query Dear { " + " ".join(
                                      f"c{i}: customers(first: 200) {{ edges {{ node {{ id "
                                      f"staffRelations {{ staffId }} }} }} }}"
                                      for i in range(10)) + " }"],
                         ids=["unnamed", "invalid", "over-budget"])
def test_the_command_refuses_an_operation_that_would_not_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    for name, value in env(tmp_path).items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "app.graphql"
    source.write_text(text)
    manifest = tmp_path / "persisted.json"
    assert main(["persisted-queries", "add", str(source), "--manifest", str(manifest)]) == 2
    assert not manifest.exists()
