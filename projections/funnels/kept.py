"""The funnel's merge trees kept in memory between pages by its single writer.

A page used to read back, for every customer it touches, the whole OneID merge tree
(``SELECT … FOR UPDATE``) and recompute what the tree added to the rollups before it
changed — what the page before had just written and computed. :class:`KeptTrees` keeps,
for the customers pages touch most recently, each tree's committed rows and its
contributions (:class:`Tree`), staged by a page and promoted only once its transaction
committed (:mod:`projections.page_memory`: a rolled-back page, another leader, a lost
connection, a rebuild or a switched-in table all start again from the database). A tree
is kept or forgotten whole, so a page never mixes a kept tree with rows of it read back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from psycopg import Cursor

from projections.funnels.merges import Contributions
from projections.funnels.rows import Row
from projections.page_memory import PageMemory, table_node

#: Customers (streams) kept at most by default (``SIYU_FUNNEL_KEPT_CUSTOMERS``): 1.4-1.8 kB
#: of the process's RSS each on the benchmark's logs, so ~0.36 GB when full; a customer
#: past it is read back and its tree's contributions computed again on every page that
#: touches it (docs/operations.md, *The funnel's kept trees*).
LIMIT = 200_000


class Tree(NamedTuple):
    """One customer's streams as committed (the survivor first), and what they add to the
    rollups."""

    rows: tuple[Row, ...]
    contributions: Contributions


def _streams(tree: Tree) -> list[int]:
    """The tree's streams, by their UUID's int (hashed in C, a UUID in Python)."""
    return [row["customer_id"].int for row in tree.rows]


class KeptTrees:
    def __init__(self, limit: int = LIMIT) -> None:
        self.memory: PageMemory[int, Tree] = PageMemory(limit, group=_streams)
        self._node = 0

    def begin(self, curs: Cursor[Any], runner: object, committed: int) -> None:
        self._node = table_node(curs, "funnel_customer")
        self.memory.begin((runner, committed, self._node))

    def committed(self, runner: object, position: int) -> None:
        self.memory.promote((runner, position, self._node))

    def forget(self) -> None:
        self.memory.forget()

    def find(self, ids: Iterable[int]) -> tuple[list[Tree], list[int]]:
        """The kept trees of streams ``ids`` (UUIDs' ints; each tree once), and the ids not
        kept."""
        ids = list(ids)
        found: dict[int, Tree] = {}
        missing: list[int] = []
        for customer_id, tree in zip(ids, self.memory.get_all(ids), strict=True):
            if tree is None:
                missing.append(customer_id)
            else:
                found[id(tree)] = tree
        return list(found.values()), missing

    def stage(self, tree: Tree) -> None:
        self.memory.stage_all((row["customer_id"].int, tree) for row in tree.rows)

    def stage_all(self, trees: Iterable[Tree]) -> None:
        """:meth:`stage` for each of ``trees`` (a page's), in one call."""
        self.memory.stage_all((row["customer_id"].int, tree) for tree in trees
                              for row in tree.rows)
