"""The layout holds: the entry points (``api/``, ``workers/``) carry no SQL text; every
statement lives with the read model or table it reads, in its package under ``projections/``
(``queries.py`` for the API's reads, ``dispatch.py``/``outbox.py`` for a worker's claims)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = ("api", "workers")

#: A statement, not prose: a keyword in capitals followed by the clause that makes it SQL.
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\b(FROM|pg_\w+)\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\b(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW|FUNCTION|SCHEMA)\b"
    r"|\bTRUNCATE\s+\w|\bWITH\s+RECURSIVE\b|\bSET\s+LOCAL\b")


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes: prose may quote SQL."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _literals(tree: ast.Module) -> list[tuple[int, str]]:
    skip = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                           else "x" for v in node.values)  # a placeholder for each {…}
            found.append((node.lineno, text))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip):
            found.append((node.lineno, node.value))
    return found


def sql_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
            for line, text in _literals(tree) if SQL.search(text)]


def test_the_detector_sees_sql_and_ignores_prose(tmp_path: Path) -> None:
    # Given a module with a statement, an f-string statement and prose about SQL
    module = tmp_path / "m.py"
    module.write_text('"""Runs ``INSERT INTO t`` once."""\n'
                      'A = "SELECT * FROM " "t WHERE x = %s"\n'
                      'B = f"UPDATE {t} SET x = 1"\n'
                      'C = "Select the campaign from the list"\n')
    # When it is scanned; Then the two statements are found, the prose is not
    tree = ast.parse(module.read_text())
    assert [line for line, text in _literals(tree) if SQL.search(text)] == [2, 3]


def test_api_and_workers_hold_no_sql_text() -> None:
    # Given every module of the entry points; When their string literals are scanned
    found = [hit for package in ENTRY_POINTS
             for path in sorted((ROOT / package).rglob("*.py")) for hit in sql_literals(path)]
    # Then none is a SQL statement: they live in the read models' packages, projections/*/
    assert found == []


#: The project's own packages (the tests and benchmarks import them; nothing imports those).
PACKAGES = ("adapters", "api", "application", "domain", "fakes", "projections", "siyu", "workers")


def test_no_module_imports_itself_back_through_any_chain() -> None:
    # Given every import between the project's modules (deferred ones inside functions too)
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    cycles: set[tuple[str, ...]] = set()
    # When each import is followed back to where it started
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.add((module, *chain))
    # Then there is no cycle anywhere
    assert not cycles, "\n".join(" -> ".join(c) for c in sorted(cycles))


#: The packages that ship (tests and benchmarks excluded).
SOURCE_PACKAGES = ("adapters", "api", "application", "domain", "fakes", "projections", "siyu",
                   "workers")


def test_no_source_module_outgrows_one_read() -> None:
    """No module over 400 lines, and the median (package ``__init__`` files included) at
    most 150: a module is read in one sitting, named for the one thing it holds."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for package in SOURCE_PACKAGES for p in (ROOT / package).rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
    ordered = sorted(sizes.values())
    middle = len(ordered) // 2
    median = (ordered[middle] if len(ordered) % 2
              else (ordered[middle - 1] + ordered[middle]) / 2)
    assert median <= 150, median
