"""Rows a read model's single writer keeps in memory between pages, never ahead of the
committed state.

A view that reads back the rows a page touches (and what they added to its rollups)
pays a ``SELECT`` and a recomputation per page for what it wrote itself the page before.
With a :class:`PageMemory` it keeps them: each page **stages** what it wrote, and the
runner **promotes** the staged values after the page's transaction has committed. The
committed state a memory reflects is named by a *generation* — the runner, its tracking
position and whatever else the view adds (the storage of its table: a blue/green switch
or a ``TRUNCATE`` replaces it without moving the position) — and a page that begins on
another generation than the one last promoted starts from an empty memory:

* a page rolled back (a quarantine probe, a failing event, a lost connection, a
  ``Superseded`` page) never promotes, and its staged values go when the next page
  begins;
* a commit whose acknowledgement was lost, a page applied by another leader, a rebuild:
  the tracking position differs from the one promoted, so nothing kept is used;
* the runner also forgets on lost leadership and on a lost connection.

A memory holds at most ``limit`` keys; past it, the least recently written go first (with
their ``group``: values that must be loaded or forgotten together, such as the streams of
one OneID merge tree).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from psycopg import Cursor

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@runtime_checkable
class RemembersPages(Protocol):
    """A view that keeps rows between pages; its runner tells it where pages stand."""

    def page_begins(self, curs: Cursor[Any], runner: object, committed: int) -> None:
        """A page's transaction began (fenced) on tracking position ``committed``."""

    def page_committed(self, runner: object, position: int) -> None:
        """That page committed, with tracking at ``position``."""

    def forget(self) -> None:
        """Drop everything kept (the committed state is no longer known)."""


class _Nothing:
    """What a runner tells a view that keeps nothing between pages."""

    def page_begins(self, curs: Cursor[Any], runner: object, committed: int) -> None:
        pass

    def page_committed(self, runner: object, position: int) -> None:
        pass

    def forget(self) -> None:
        pass


def memory_of(view: object) -> RemembersPages:
    """Who to tell where pages stand: ``view`` if it keeps rows between pages."""
    return view if isinstance(view, RemembersPages) else _Nothing()


def lease_term(runner: object) -> Any:
    """Who writes, as far as memory kept between pages cares: a runner without a lease is
    the only writer (0); with one, its term while this process leads (None while it does
    not: nothing may be kept then)."""
    lease = getattr(runner, "lease", None)
    if lease is None:
        return 0
    return lease.term if lease.held.is_set() else None


def table_node(curs: Cursor[Any], table: str) -> int:
    """The storage a table's rows live in now: another after a ``TRUNCATE`` or after a
    blue/green switch moved a new table in."""
    row = curs.execute("SELECT pg_relation_filenode(%s::regclass) AS node", (table,)).fetchone()
    value = row["node"] if isinstance(row, dict) else row[0]  # type: ignore[index]
    return int(value)


class PageMemory(Generic[K, V]):
    """Committed values by key, and the values the current page staged."""

    def __init__(self, limit: int, group: Callable[[V], Iterable[K]] | None = None) -> None:
        self.limit = limit
        self._group = group
        self._committed: dict[K, V] = {}
        self._staged: dict[K, V] = {}
        self._generation: Hashable = None

    def __len__(self) -> int:
        return len(self._committed)

    def begin(self, generation: Hashable) -> None:
        """A page begins on the committed state ``generation``."""
        self._staged = {}
        if generation != self._generation:
            self._committed = {}
            self._generation = None

    def get(self, key: K) -> V | None:
        """The value the committed state holds for ``key`` if kept (not what this page
        staged: a page reads its own writes from its own variables)."""
        return self._committed.get(key)

    def stage(self, key: K, value: V) -> None:
        self._staged[key] = value

    def stage_all(self, items: Iterable[tuple[K, V]]) -> None:
        """:meth:`stage` for many keys, without a call each."""
        self._staged.update(items)

    def get_all(self, keys: Iterable[K]) -> list[V | None]:
        """:meth:`get` for many keys, without a call each."""
        get = self._committed.get
        return [get(key) for key in keys]

    def promote(self, generation: Hashable) -> None:
        """The page committed: its staged values are the committed state ``generation``."""
        committed = self._committed
        for key, value in self._staged.items():
            committed.pop(key, None)  # most recently written last
            committed[key] = value
        self._staged = {}
        self._generation = generation
        while len(committed) > self.limit:
            oldest = committed.pop(next(iter(committed)))
            for key in self._group(oldest) if self._group else ():
                committed.pop(key, None)

    def forget(self) -> None:
        self._committed, self._staged, self._generation = {}, {}, None
