"""``/readyz``: ready to serve = the database answers and every read model is within
``max_lag`` events of the log (a load balancer sends no traffic to an API whose answers
would be stale or fail). ``/healthz`` only says the process is alive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections import operations
from siyu.metrics import SCRAPE_TIMEOUT_MS, Connect


def readiness(connect: Connect, read_models: Iterable[str], max_lag: int
              ) -> tuple[bool, dict[str, Any]]:
    """(ready, what was found): the log's head and the read models behind by more than
    ``max_lag`` events (one never run counts from 0)."""
    try:
        with connect() as conn, conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {SCRAPE_TIMEOUT_MS}")
            head = operations.log_head(conn)
            positions = operations.projection_positions(conn)
    except Exception as error:  # the answer is "not ready", whatever the cause
        return False, {"database": "unavailable", "error": type(error).__name__}
    behind = {name: head - positions.get(name, 0) for name in sorted(read_models)
              if head - positions.get(name, 0) > max_lag}
    return not behind, {"database": "ok", "head": head, "max_lag": max_lag,
                        "behind": behind}
