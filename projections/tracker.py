"""Where each read model stands: the library's tracking table, written inside our own
transactions (a page's rows and its position commit together)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections import schema_lock
from projections.leases import fence, fences

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
        return fence(curs, Identifier(self.datastore.schema, TRACKING_TABLE), name, first_id)

    def record_all(self, curs: Cursor[DictRow], positions: Sequence[tuple[str, int]]) -> None:
        """:meth:`record` for several read models, the library's statements sent in one
        round trip."""
        recorder = self.recorder
        recorder._check_has_multi_row_tracking_table(curs)
        conn = curs.connection
        written = []
        with conn.pipeline():
            for name, notification_id in positions:
                each = conn.cursor()
                each.execute(recorder.insert_tracking_statement,
                             {"application_name": name, "notification_id": notification_id},
                             prepare=False)
                written.append(each)
        if self.datastore.single_row_tracking:  # as the library checks each one
            for (name, notification_id), each in zip(positions, written, strict=True):
                if each.fetchone() is None:
                    raise IntegrityError(
                        f"Failed to record tracking for {name} {notification_id}")

    def fences(self, curs: Cursor[DictRow], pages: Sequence[tuple[str, int]]) -> list[int]:
        return fences(curs, Identifier(self.datastore.schema, TRACKING_TABLE), pages)

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
