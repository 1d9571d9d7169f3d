"""``siyu rebuild`` on both cores: the read models to rebuild split as ``siyu
projections``' default split (:data:`projections.groups.DEFAULT_SPLIT`), one process per
part, each building its part from one pass over the log (:mod:`projections.bluegreen`).

Progress comes back to the parent, which prints it. Ctrl-C reaches the parent: it asks
each child to stop (SIGTERM, which a child turns into ``KeyboardInterrupt``); a child
drops its build schemas and leaves the live read models as they were (a part already
switched stays switched: its new tables equal what the old ones held).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
from collections.abc import Callable, Sequence
from typing import Any

from projections import bluegreen
from projections.groups import DEFAULT_SPLIT, names_of
from projections.runner import View
from siyu.bootstrap import build_application
from siyu.garbage import settled

#: Seconds between checks that the children are alive while no message comes.
POLL = 0.5
#: Notifications up to which ``siyu rebuild`` builds in its own process, one part: a child
#: process costs 2-3 s of CPU importing the application before it folds anything, and the
#: fold of a notification about 0.85 ms (117k notifications in 98.9 s, docs/benchmarks.md),
#: so a second core earns back its child's start only past about 6,000 notifications.
SMALL_LOG = 5_000


def parts_of(names: Sequence[str]) -> list[list[str]]:
    """``names`` split as the default split: one part per process, none empty."""
    parts = [[n for n in names if n in names_of(list(groups))] for groups in DEFAULT_SPLIT]
    rest = [n for n in names if not any(n in part for part in parts)]
    return [part for part in (*parts, rest) if part]


#: Every read model (``siyu.processes.read_model_views``, passed by its caller: a
#: module-level function, or a ``partial`` of one with its settings, so that a child
#: process receives it by name).
Everything = Callable[[], list[View]]


def build(url: str, secret: bytes, names: Sequence[str], everything_of: Everything,
          report: bluegreen.Report) -> None:
    """Build the named read models in this process, from one pass over the log (Python's
    cycle collector settled as in ``siyu projections``: a fold's pages allocate many
    short-lived containers, and with the defaults the collector took a fifth of a
    rebuild's Python time, docs/benchmarks.md)."""
    app = build_application(url, secret, pool=2)  # the builds have their own connections
    try:
        everything = everything_of()
        views = [v for v in everything if v.name in names]
        with settled():
            bluegreen.build_and_switch(app, views, app.factory.datastore,  # type: ignore[attr-defined]
                                       everything, report=report)
    finally:
        app.close()


def stop_on_sigterm(signum: int, _frame: Any) -> None:
    """A SIGTERM handler: a stop (``kill``, a service manager, a container's stop) is a
    Ctrl-C, so the build schemas are dropped on the way out."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must finish
    raise KeyboardInterrupt


def _child(url: str, secret: bytes, names: list[str], everything_of: Everything,
           out: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent says when to stop
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        build(url, secret, names, everything_of, lambda p: out.put(("progress", p)))
        out.put(("done", None))
    except KeyboardInterrupt:
        out.put(("interrupted", None))
    except Exception as error:  # reported by the parent, which fails
        out.put(("failed", f"{', '.join(names)}: {type(error).__name__}: {error}"))


def rebuild_parts(url: str, secret: bytes, names: Sequence[str], everything_of: Everything,
                  report: bluegreen.Report, *, split: bool = True) -> None:
    """Build ``names`` blue/green, a process per part (in this one if only one part, or
    all of them in this one unless ``split``: a short log, :data:`SMALL_LOG`)."""
    parts = parts_of(names) if split else [list(names)] if names else []
    if len(parts) <= 1:
        build(url, secret, parts[0] if parts else [], everything_of, report)
        return
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    children = [ctx.Process(target=_child, args=(url, secret, part, everything_of, out),
                            name=f"rebuild {bluegreen.label_of(part)}") for part in parts]
    for child in children:
        child.start()
    failures: list[str] = []
    try:
        ended = 0
        while ended < len(children):
            try:
                kind, payload = out.get(timeout=POLL)
            except queue.Empty:
                if not any(c.is_alive() for c in children):
                    failures.append("a rebuild process ended without a word")
                    break
                continue
            if kind == "progress":
                report(payload)
            else:
                ended += 1
                if kind != "done":
                    failures.append(str(payload or kind))
    except BaseException:
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
        raise
    finally:
        for child in children:
            child.join(120)
    if failures:
        raise RuntimeError("siyu rebuild failed: " + "; ".join(failures))
