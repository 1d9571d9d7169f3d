"""``siyu verify``: prove the event log was not edited, and the read models are its fold.

    siyu verify                   the hash chain, then every read model rebuilt into the
                                  shadow schema and diffed against the live one
    siyu verify --chain-only      the hash chain alone
    siyu verify --against FILE    also check the anchors in FILE (JSON lines, as --anchor
                                  writes them): the chain must still hold each one
    siyu verify --anchor [--out FILE]   print the chain's head (and append it to FILE)

Exit status 0 when everything holds, 1 when a link is broken, an anchor is not held or
a read model differs. See docs/audit.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.conninfo import conninfo_to_dict

from adapters import event_chain
from adapters.recorders import SiyuPostgresRecorder
from adapters.side_tables import SIDE_TABLES
from application.app import Siyu
from projections import shadow
from siyu.bootstrap import build_application
from siyu.processes import read_model_views
from siyu.settings import Settings


@dataclass(frozen=True, slots=True)
class Verification:
    chain: event_chain.ChainReport
    seconds: float  # spent checking the chain
    views: tuple[shadow.ViewDiff, ...]

    @property
    def holds(self) -> bool:
        return not self.chain.broken and not any(v.differences for v in self.views)


def _recorder(app: Siyu) -> SiyuPostgresRecorder:
    recorder = app.recorder
    assert isinstance(recorder, SiyuPostgresRecorder), "verify needs PostgreSQL"
    return recorder


def check_chain(app: Siyu, anchors: Iterable[tuple[int, str]] = ()
                ) -> tuple[event_chain.ChainReport, float]:
    recorder = _recorder(app)
    started = time.perf_counter()
    with recorder.datastore.get_connection() as conn:
        report = event_chain.verify(conn, recorder.datastore.schema, recorder.events_table_name,
                                    list(anchors))
    return report, time.perf_counter() - started


def anchor(app: Siyu) -> event_chain.Anchor:
    recorder = _recorder(app)
    with recorder.datastore.get_connection() as conn:
        return event_chain.head(conn, recorder.datastore.schema)


def shadow_datastore(database_url: str) -> shadow.ShadowDatastore:
    info = conninfo_to_dict(database_url)
    return shadow.ShadowDatastore(
        dbname=str(info.get("dbname") or "postgres"), host=str(info.get("host") or "127.0.0.1"),
        port=str(info.get("port") or "5432"), user=str(info.get("user") or "postgres"),
        password=str(info.get("password") or ""), schema=shadow.SHADOW_SCHEMA, pool_size=2,
        max_overflow=4)


def compare_read_models(app: Siyu, database_url: str) -> list[shadow.ViewDiff]:
    """Every read model rebuilt into the shadow schema (emptied first) and diffed."""
    recorder = _recorder(app)
    write_side = [recorder.events_table_name, event_chain.CHAIN_TABLE, *SIDE_TABLES]
    snapshots = getattr(app.snapshots, "recorder", None) if app.snapshots else None
    if isinstance(snapshots, SiyuPostgresRecorder | PostgresAggregateRecorder):
        write_side.append(snapshots.events_table_name)
    with recorder.datastore.get_connection() as live:
        shadow.reset(live, write_side)
    store = shadow_datastore(database_url)
    try:
        with recorder.datastore.get_connection() as live:
            return shadow.compare_views(app, live, store, read_model_views(), write_side)
    finally:
        store.close()


def verify(database_url: str, secret: bytes, *, anchors: Iterable[tuple[int, str]] = (),
           read_models: bool = True) -> Verification:
    app = build_application(database_url, secret)
    try:
        report, seconds = check_chain(app, anchors)
        views = compare_read_models(app, database_url) if read_models else []
    finally:
        app.close()
    return Verification(report, seconds, tuple(views))


def read_anchors(path: Path) -> list[tuple[int, str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            data: dict[str, Any] = json.loads(line)
            out.append((int(data["position"]), str(data["hash"])))
    return out


def describe(result: Verification) -> list[str]:
    """The report's lines: ids and positions only, never an event's data."""
    chain = result.chain
    rate = chain.checked / result.seconds if result.seconds else 0.0
    lines = [f"chain: {chain.checked} events checked up to position {chain.head} "
             f"({rate:,.0f} events/s): " + ("intact" if not chain.broken
                                            else f"BROKEN at {len(chain.broken)} link(s)")]
    lines += [f"  position {b.position}: {b.kind} — {b.detail}" for b in chain.broken]
    for view in result.views:
        state = "equal" if not view.differences else "DIFFERS"
        lines.append(f"read model {view.view} at position {view.position}: {state} "
                     f"({len(view.tables)} tables)")
        lines += [f"  {d.table}: {d.live_only} live row(s) not in the rebuild, "
                  f"{d.rebuilt_only} rebuilt row(s) not live; e.g. {', '.join(d.samples)}"
                  for d in view.differences]
    return lines


def command(settings: Settings, *, anchor_only: bool, out: Path | None,
            against: Path | None, chain_only: bool) -> int:
    assert settings.database_url is not None
    if anchor_only:
        app = build_application(settings.database_url, settings.secret)
        try:
            line = json.dumps(anchor(app).as_json())
        finally:
            app.close()
        print(line)
        if out is not None:
            with out.open("a") as file:
                file.write(line + "\n")
        return 0
    anchors = read_anchors(against) if against is not None else []
    result = verify(settings.database_url, settings.secret, anchors=anchors,
                    read_models=not chain_only)
    for line in describe(result):
        print(line)
    return 0 if result.holds else 1
