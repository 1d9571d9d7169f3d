"""Where each read model stands: the library's tracking table, written inside our own
transactions (a page's rows and its position commit together)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

import psycopg
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections import schema_lock
from projections.leases import fenced_positions, fences, send_fences

TRACKING_TABLE = "siyu_projection_tracking"


class Tracker:
    """The library's tracking table, written inside our own transactions."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self.recorder = PostgresTrackingRecorder(datastore, tracking_table_name=TRACKING_TABLE)
        with datastore.get_connection() as conn, schema_lock.held_on(conn):
            self.recorder.create_table()  # the library's own transactions

    def position(self, name: str) -> int:
        return self.recorder.max_tracking_id(name) or 0

    def record(self, curs: Cursor[DictRow], name: str, notification_id: int) -> None:
        self.recorder._insert_tracking(curs, Tracking(name, notification_id))

    def fence(self, curs: Cursor[DictRow], name: str, first_id: int) -> int:
        """:func:`projections.leases.fence` of a page in ``curs``'s transaction."""
        return self.fences(curs, [(name, first_id)])[0]

    @contextlib.contextmanager
    def page(self, name: str, first_id: int, last_id: int
             ) -> Iterator[tuple[Cursor[DictRow], int]]:
        """A page's transaction of read model ``name``: begun, fenced (:meth:`fence`) and
        its tracking moved to ``last_id`` (:meth:`record`) before the block runs, all in
        one round trip, then committed when the block ends (rolled back on an error: the
        tracking with the rows). Yields the cursor and the position committed before.

        Main's shape — ``BEGIN``, the fence, the rows, the tracking, ``COMMIT`` — paid
        four round trips per view per page besides the rows; this pays two (most of a
        small page's fixed cost: a tailing runner's pages are small)."""
        with self.pages([(name, first_id, last_id)]) as (curs, positions):
            yield curs, positions[0]

    @contextlib.contextmanager
    def pages(self, pages: Sequence[tuple[str, int, int]]
              ) -> Iterator[tuple[Cursor[DictRow], list[int]]]:
        """:meth:`page` of several read models' pages ``(name, first id, last id)`` in one
        transaction (:meth:`fences`, then each one's tracking)."""
        with self.datastore.get_connection() as conn:
            curs = conn.cursor()
            try:
                self.recorder._check_has_multi_row_tracking_table(curs)  # once per process
                # BEGIN by hand: a psycopg transaction block opened in pipeline mode keeps
                # the connection in it to its end (no COPY, no server-side cursor).
                with conn.pipeline():
                    curs.execute("BEGIN")
                    fenced = [(name, first_id) for name, first_id, _ in pages]
                    reads = send_fences(curs, self._table, fenced)
                    written = self._send_tracking(conn, [(n, last) for n, _, last in pages])
                positions = self.checked(fenced, fenced_positions(fenced, reads))
                self._check_tracking([(n, last) for n, _, last in pages], written)
                yield curs, positions
            except BaseException:
                if not conn.closed:  # an error of the rollback must not hide the page's
                    with contextlib.suppress(psycopg.Error):
                        conn.rollback()
                raise
            conn.commit()

    def _send_tracking(self, conn: psycopg.Connection[DictRow],
                       positions: Sequence[tuple[str, int]]) -> list[Cursor[DictRow]]:
        """Queue :meth:`record`'s statement (the library's) for each read model."""
        written = []
        for name, notification_id in positions:
            each = conn.cursor()
            each.execute(self.recorder.insert_tracking_statement,
                         {"application_name": name, "notification_id": notification_id},
                         prepare=False)
            written.append(each)
        return written

    def _check_tracking(self, positions: Sequence[tuple[str, int]],
                        written: Sequence[Cursor[DictRow]]) -> None:
        """Refuse the transaction unless every tracking write moved its position, as the
        library checks each one."""
        if not self.datastore.single_row_tracking:
            return
        for (name, notification_id), each in zip(positions, written, strict=True):
            if each.fetchone() is None:
                raise IntegrityError(f"Failed to record tracking for {name} {notification_id}")

    def fences(self, curs: Cursor[DictRow], pages: Sequence[tuple[str, int]]) -> list[int]:
        return self.checked(pages, fences(curs, self._table, pages))

    def checked(self, pages: Sequence[tuple[str, int]], positions: list[int]) -> list[int]:
        """What the fences of ``pages`` found, once a subclass has checked it further."""
        return positions

    @property
    def _table(self) -> Identifier:
        return Identifier(self.datastore.schema, TRACKING_TABLE)

    def reset(self, curs: Cursor[DictRow], name: str) -> None:
        curs.execute(SQL("DELETE FROM {}.{} WHERE application_name = %s").format(
            Identifier(self.datastore.schema), Identifier(TRACKING_TABLE)), (name,))

    def wait(self, name: str, position: int, timeout: float) -> bool:
        """Block until the projection has processed ``position``; False on timeout."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if self.position(name) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
