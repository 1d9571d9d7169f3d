"""docs/access.md's matrix is the policy table: a change to one without the other fails."""

from __future__ import annotations

import re
from pathlib import Path

from api.policy import NESTED, POLICY, Access

DOC = Path(__file__).resolve().parents[3] / "docs" / "access.md"
COLUMNS = [Access.COMPANY_MANAGER, Access.DEPARTMENT_MANAGER, Access.OPERATOR,
           Access.FRONTLINE, Access.AUDITOR, Access.CUSTOMER, Access.SERVICE]
ROW = re.compile(r"^\| `(?P<field>[A-Za-z]+\.[A-Za-z]+)` \|(?P<cells>.*)\|\s*$")


def documented() -> dict[str, frozenset[Access]]:
    out: dict[str, frozenset[Access]] = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        cells = [c.strip() for c in match["cells"].split("|")]
        assert len(cells) == len(COLUMNS), line
        out[match["field"]] = frozenset(a for a, c in zip(COLUMNS, cells, strict=True) if c)
    return out


def test_the_documented_matrix_is_the_enforced_one() -> None:
    assert documented() == {**POLICY, **NESTED}
