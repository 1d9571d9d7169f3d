"""Static checks are part of the suite: ruff, the layers contract, mypy --strict."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> None:
    exe = BIN / tool
    if not exe.exists():
        found = shutil.which(tool)
        assert found, f"{tool} is not installed (pip install -e '.[test]')"
        exe = Path(found)
    result = subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, f"{tool} failed:\n{result.stdout}\n{result.stderr}"


def test_ruff_finds_nothing() -> None:
    run("ruff", "check", ".")


def test_the_layers_contract_holds() -> None:
    run("lint-imports")


@pytest.mark.timeout(600)
def test_mypy_strict_finds_nothing() -> None:
    run("mypy")
