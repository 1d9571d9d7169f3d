"""The customer profile's hot state, kept in memory by its single writer between pages.

Each page of the profile read model used to read back, for the customers it touched,
their group roots (``customer_profile_member``), their rows (``customer_profile``, big
jsonb documents decoded again), their segment memberships and due checks, and the live
segment versions — the same customers page after page when the log is tailed. The
:class:`ProfileCache` keeps what the last committed pages left, for at most
:data:`CACHE_CUSTOMERS` customers (least recently written first out), and a page reads
from the database only what it lacks.

It is never ahead of, nor different from, the committed state (:mod:`projections.page_memory`):

* a page's changes are staged apart (:class:`PageChanges`) and read first within the
  page; they become the cache only after the page's commit (:meth:`ProfileCache.promote`);
* a page that fails (rolled back, or a commit whose outcome is unknown) drops everything;
* at the start of each page the cache must have been built at the committed tracking
  position, under the same leadership term, and on the same tables (their file nodes:
  a ``TRUNCATE``, a rebuild or a blue/green switch gives new ones) — else it is dropped;
* a merge or un-merge regroups streams (every cached root is forgotten at its commit),
  and a segment defined, revised or archived, or a product moved to another category,
  changes memberships of customers the page never loaded (every cached membership and
  the segment versions are forgotten).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from projections.segments.engine import CUSTOMER_BITS, Memberships, Segmentation, Spec

Row = dict[str, Any]

#: Customers whose rows and memberships the profile writer keeps in memory (6.7 KB each on
#: the benchmark's log, more for long histories). docs/operations.md, *Projection throughput*.
CACHE_CUSTOMERS = 20_000

#: The tables whose file nodes name the state the cache was built from.
TABLES = ("customer_profile", "customer_profile_member", "segment", "segment_membership",
          "segment_check")
_EPOCH = "SELECT " + ", ".join(f"pg_relation_filenode('{t}') AS {t}" for t in TABLES)


@dataclass(slots=True)
class PageChanges:
    """What the page being written changed, promoted only after its commit."""

    rows: dict[UUID, Row | None] = field(default_factory=dict)
    roots: dict[UUID, UUID] = field(default_factory=dict)
    roots_reset: bool = False  # a merge or un-merge: cached roots no longer hold
    segments: dict[UUID, Segmentation | None] = field(default_factory=dict)
    segments_reset: bool = False  # memberships of customers not loaded changed
    specs: list[Spec] | None = None


@dataclass(frozen=True, slots=True)
class Validity:
    position: int
    term: Any
    epoch: tuple[Any, ...]


class ProfileCache:
    """Committed rows, roots, memberships and segment versions, bounded by customers."""

    def __init__(self, capacity: int = CACHE_CUSTOMERS) -> None:
        self.capacity = capacity
        self.rows: dict[UUID, Row | None] = {}  # insertion order: least recently written first
        self.roots: dict[UUID, UUID] = {}
        self.segments: dict[UUID, Segmentation] = {}
        self.specs: list[Spec] | None = None
        self.valid: Validity | None = None
        self.page: PageChanges | None = None  # set while a page is being written
        self.epoch: tuple[Any, ...] = ()

    # -- the page protocol (projections.page_memory) --------------------------------------
    def begin(self, curs: Cursor[DictRow], committed: int, term: Any) -> None:
        """Inside the page's transaction: keep the cache only if it is the committed
        state's, and stage the page's changes apart."""
        curs.execute(_EPOCH)
        found = curs.fetchone()
        self.epoch = tuple(found.values()) if found else ()
        if term is None or self.valid != Validity(committed, term, self.epoch):
            self.clear()
        self.page = PageChanges() if term is not None else None
        self._term = term

    def promote(self, position: int) -> None:
        """After the commit: the page's changes become the cache, at ``position``."""
        page, self.page = self.page, None
        if page is None or self.capacity <= 0:  # capacity 0: nothing kept between pages
            self.clear()
            return
        if page.roots_reset:
            self.roots.clear()
        if page.segments_reset:
            self.segments.clear()
            self.specs = None
        if page.specs is not None:
            self.specs = page.specs
        _written(self.roots, page.roots, self.capacity)
        _written(self.rows, page.rows, self.capacity)
        for customer, segmentation in page.segments.items():
            self.segments.pop(customer, None)
            if segmentation is not None:
                self.segments[customer] = segmentation
        for customer in list(self.segments)[:max(0, len(self.segments) - self.capacity)]:
            del self.segments[customer]
        self.valid = Validity(position, self._term, self.epoch)

    def clear(self) -> None:
        self.rows.clear()
        self.roots.clear()
        self.segments.clear()
        self.specs = None
        self.valid = None
        self.page = None

    # -- reads and writes within a page -------------------------------------------------
    def known_roots(self, streams: Iterable[UUID]) -> tuple[dict[UUID, UUID], set[UUID]]:
        """The group roots known for ``streams``, and the streams to read."""
        known: dict[UUID, UUID] = {}
        missing: set[UUID] = set()
        page = self.page
        if page is None:
            return known, set(streams)
        cached = {} if page.roots_reset else self.roots
        staged = page.roots
        for stream in streams:
            root = staged.get(stream) or cached.get(stream)
            if root is None:
                missing.add(stream)
            else:
                known[stream] = root
        return known, missing

    def roots_read(self, roots: dict[UUID, UUID]) -> None:
        if self.page is not None:
            self.page.roots.update(roots)

    def regrouped(self) -> None:
        """A merge or un-merge: no root known before it holds for the rest of the page."""
        if self.page is not None:
            self.page.roots.clear()
            self.page.roots_reset = True

    def known_rows(self, roots: Iterable[UUID]) -> tuple[dict[UUID, Row | None], set[UUID]]:
        known: dict[UUID, Row | None] = {}
        missing: set[UUID] = set()
        page = self.page
        if page is None:
            return known, set(roots)
        staged, cached = page.rows, self.rows
        for root in roots:
            if root in staged:
                known[root] = staged[root]
            elif root in cached:
                known[root] = cached[root]
            else:
                missing.add(root)
        return known, missing

    def rows_written(self, rows: dict[UUID, Row | None]) -> None:
        if self.page is not None:
            self.page.rows.update(rows)

    def known_segments(self, customers: Iterable[UUID], state: Memberships) -> set[UUID]:
        """Load the known memberships of ``customers`` into ``state``; the rest to read."""
        page = self.page
        if page is None:
            return set(customers)
        missing: set[UUID] = set()
        staged = page.segments
        cached: dict[UUID, Segmentation] = {} if page.segments_reset else self.segments
        for customer in customers:
            found = staged.get(customer) if customer in staged else cached.get(customer)
            if found is None:
                missing.add(customer)
                continue
            state.members.update(found[0])
            state.checks.update(found[1])
            state.stored[customer.int] = found  # shared, never changed
        return missing

    def segments_flushed(self, state: Memberships, loaded: set[UUID]) -> None:
        """Before a flush: the memberships and checks of the customers loaded, as it will
        write them. A customer's are those loaded (``state.stored``, kept as they are
        when nothing of theirs changed: most of a page's customers) with what changed
        since applied; regrouping every loaded key by customer after each flush was ~3 %
        of the profile group's Python, profiled."""
        page = self.page
        if page is None:
            return
        stored = state.stored
        changed: dict[int, Segmentation | None] = {}  # None: a customer not loaded whole
        mask = CUSTOMER_BITS  # customer_int(key), inlined: a call per key was a tenth of this

        def of(customer: int) -> Segmentation | None:
            if customer in changed:
                return changed[customer]
            origin = stored.get(customer)
            found = changed[customer] = (None if origin is None
                                         else (dict(origin[0]), dict(origin[1])))
            return found

        for key, entry in state.entered.items():
            if (found := of(key & mask)) is not None:
                found[0][key] = entry.rule_version
        for key in state.exited:
            if (found := of(key & mask)) is not None:
                found[0].pop(key, None)
        for key, at in state.checks_set.items():
            if (found := of(key & mask)) is not None:
                if at is None:
                    found[1].pop(key, None)
                else:
                    found[1][key] = at
        segments = page.segments
        for customer in loaded:
            number = customer.int
            segments[customer] = changed[number] if number in changed else stored[number]
        for number, segmentation in changed.items():
            if segmentation is None:  # state of customers not loaded: not kept
                segments[UUID(int=number)] = None

    def segments_reset(self, specs: list[Spec]) -> None:
        """Segment versions changed, and memberships of customers the page never loaded."""
        if self.page is not None:
            self.page.segments.clear()
            self.page.segments_reset = True
            self.page.specs = specs

    def known_specs(self) -> list[Spec] | None:
        page = self.page
        if page is None:
            return None
        if page.specs is not None:
            return page.specs
        return None if page.segments_reset else self.specs

    def specs_read(self, specs: list[Spec]) -> None:
        if self.page is not None:
            self.page.specs = specs


def _written(store: dict[UUID, Any], changes: dict[UUID, Any], capacity: int) -> None:
    """Write ``changes`` into ``store`` as the most recent, then evict beyond capacity."""
    for key, value in changes.items():
        store.pop(key, None)
        store[key] = value
    excess = len(store) - capacity
    if excess > 0:
        for key in list(store)[:excess]:
            del store[key]
