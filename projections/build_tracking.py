"""A build's unlogged tables and a database crash: found out, never switched in.

A build folds into UNLOGGED tables (no WAL while they fill, :mod:`projections.build_schema`),
its own tracking table among them. Crash recovery (a server crash, ``pg_ctl stop -m
immediate``, a killed postmaster) empties every unlogged table of the cluster, while the
build process keeps its positions in memory and its pool replaces the lost connections
with fresh ones: it would fold the next pages into empty tables and switch in a read
model missing everything folded before the crash.

So a build's runner remembers the position it last committed (:class:`BuildRunner`),
and every page's transaction checks, in its fence, that the build's tracking still
holds that position (:class:`BuildTracker`): a build that finds it gone raises
:class:`BuildLost`, and :mod:`projections.bluegreen` builds again from the first event.
The check is also made once the tables are logged, before the switch: the tracking table
is logged last, so its rows surviving a crash proves every other table survived it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore

from projections.leases import Superseded
from projections.runner import Entry, Tracker, View
from projections.shadow import _CappedRunner


class BuildLost(Superseded):
    """A build's tracking is not where this process left it: crash recovery emptied its
    unlogged tables. Nothing of the page is applied (the fence refuses it, as it refuses
    a page another runner applied first); the build starts again."""


class BuildTracker(Tracker):
    """The tracking of a build: each page's fence also checks continuity."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore)
        #: The position each read model's last committed page recorded, per this process.
        self.committed: dict[str, int] = {}

    def checked(self, pages: Sequence[tuple[str, int]], positions: list[int]) -> list[int]:
        for (name, _), position in zip(pages, positions, strict=True):
            self._check(name, position)
        return positions

    def verify(self, names: Sequence[str]) -> None:
        """Raise :class:`BuildLost` unless every read model's tracking is where this
        process committed it."""
        for name in names:
            self._check(name, self.position(name))

    def _check(self, name: str, position: int) -> None:
        expected = self.committed.get(name, 0)
        if position != expected:
            raise BuildLost(f"{name}: the build's tracking stands at {position}, its last "
                            f"page committed {expected} (the database restarted from a "
                            f"crash and emptied the unlogged build tables)")


class BuildRunner(_CappedRunner):
    """A runner of a build: notes each page's position in its tracker once committed."""

    def __init__(self, app: Application[Any], view: View, tracker: BuildTracker, *,
                 page_size: int) -> None:
        super().__init__(app, view, tracker, page_size=page_size)
        self.build_tracker = tracker

    def _write(self, page: list[Entry], poisoned: tuple[int, Exception] | None) -> None:
        super()._write(page, poisoned)
        self.build_tracker.committed[self.view.name] = page[-1][0].id
