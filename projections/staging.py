"""State a read model keeps in memory between pages, told what became of each page.

A view that keeps committed rows in memory (the customer profile's
:class:`~projections.customer_profile.cache.ProfileCache`) must never hold more, or
other, than the database committed: a page can roll back (an event that fails and is
quarantined after the runner re-runs the page in parts, a lease fence that finds the
page :class:`~projections.leases.Superseded`, a lost connection), and another process
can write the read model after a failover. Such a view implements :class:`Staged`; the
runner (:meth:`projections.runner.BatchRunner._write`) then tells it, for each page it
writes:

* :meth:`Staged.page_began` — inside the page's transaction, after the fence: the
  committed tracking position and the leadership ``term`` (None: this process does not
  lead the read model now). The view keeps its memory only if both are the ones it was
  built at, and stages the page's changes apart;
* :meth:`Staged.page_committed` — after the commit: the staged changes become the
  memory, at the page's last position;
* :meth:`Staged.page_abandoned` — the page's transaction failed (rolled back, or its
  commit's outcome unknown): the view forgets everything.

A page applied outside this protocol (the quarantine's trial runs, a test calling
``apply_page``) is one the view cannot follow: it forgets its memory then too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from psycopg import Cursor
from psycopg.rows import DictRow

from projections.leases import Lease


@runtime_checkable
class Staged(Protocol):
    """A view whose in-memory state follows the commits of its pages."""

    def page_began(self, curs: Cursor[DictRow], committed: int, term: Any) -> None: ...

    def page_committed(self, position: int) -> None: ...

    def page_abandoned(self) -> None: ...


def term_of(lease: Lease | None) -> Any:
    """Who writes, as far as memory kept between pages cares: without a lease, the runner
    alone (0); with one, its term while this process leads (None while it does not)."""
    if lease is None:
        return 0
    term = lease.term
    return term if lease.held.is_set() else None


class Stage:
    """One page's dealings with a :class:`Staged` view (no-ops for any other view)."""

    def __init__(self, view: Staged | None, lease: Lease | None) -> None:
        self.view = view
        self.lease = lease
        self.position: int | None = None

    def began(self, curs: Cursor[DictRow], committed: int, last: int) -> None:
        if self.view is not None:
            self.view.page_began(curs, committed, term_of(self.lease))
            self.position = last


@contextmanager
def staged_page(view: Any, lease: Lease | None) -> Iterator[Stage]:
    """Around a page's transaction: promote the view's staged state after the commit
    (the transaction's context exits inside this one), forget it on any failure."""
    staged = view if isinstance(view, Staged) else None
    stage = Stage(staged, lease)
    try:
        yield stage
    except BaseException:
        if staged is not None:
            staged.page_abandoned()
        raise
    if staged is not None and stage.position is not None:
        staged.page_committed(stage.position)
