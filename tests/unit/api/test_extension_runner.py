"""The lean extension runner runs hooks exactly as strawberry's runner does: the same
order, and the same exceptions seen, swallowed or raised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import ExtensionContextManagerBase
from strawberry.extensions.runner import SchemaExtensionsRunner

from api.extension_runner import LeanExtensionsRunner, Phase


class Recording(SchemaExtension):
    """Logs its hook's start and end (with the exception it saw); ``swallow`` drops the
    phase's exception, ``fail_on`` raises at "enter" or "exit"."""

    def __init__(self, name: str, log: list[str], *, swallow: bool = False,
                 fail_on: str | None = None) -> None:
        self.name, self.log, self.swallow, self.fail_on = name, log, swallow, fail_on

    def on_validate(self) -> Iterator[None]:
        self.log.append(f"{self.name} enter")
        if self.fail_on == "enter":
            raise KeyError(self.name)
        try:
            yield
        except Exception as error:
            self.log.append(f"{self.name} saw {type(error).__name__}")
            if not self.swallow:
                raise
        else:
            self.log.append(f"{self.name} exit")
        if self.fail_on == "exit":
            raise LookupError(self.name)


class Quiet(SchemaExtension):
    """No validation hook: skipped."""

    def on_parse(self) -> Iterator[None]:
        yield


class AsyncHook(SchemaExtension):
    async def on_validate(self) -> AsyncIterator[None]:
        yield


def run(runner_class: type[SchemaExtensionsRunner], specs: list[dict[str, Any]],
        body_raises: bool, *, use_async: bool) -> tuple[list[str], str]:
    """The hooks' log and the outcome of one validation phase."""
    log: list[str] = []
    extensions: list[SchemaExtension] = [Quiet()]
    extensions += [Recording(f"e{i}", log, **spec) for i, spec in enumerate(specs)]
    runner = runner_class(execution_context=None, extensions=extensions)  # type: ignore[arg-type]

    def body() -> None:
        log.append("body")
        if body_raises:
            raise ValueError("body")

    async def in_async() -> None:
        async with runner.validation():
            body()

    try:
        if use_async:
            asyncio.run(in_async())
        else:
            with runner.validation():
                body()
    except Exception as error:
        return log, f"raised {type(error).__name__}"
    return log, "returned"


CASES = [
    ([{}, {}, {}], False),
    ([{}, {}, {}], True),
    ([{}, {"swallow": True}, {}], True),
    ([{}, {"fail_on": "exit"}, {}], False),
    ([{}, {"fail_on": "exit"}, {}], True),
    ([{"swallow": True}, {"fail_on": "exit"}, {}], False),
    ([{}, {"fail_on": "enter"}, {}], False),
]


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize(("specs", "body_raises"), CASES)
def test_hooks_run_and_see_exceptions_as_under_strawberrys_runner(
        specs: list[dict[str, Any]], body_raises: bool, use_async: bool) -> None:
    # Given extensions whose hooks log, swallow or raise
    # When one phase runs under each runner
    lean = run(LeanExtensionsRunner, specs, body_raises, use_async=use_async)
    reference = run(SchemaExtensionsRunner, specs, body_raises, use_async=use_async)
    # Then the hooks ran in the same order, saw the same exceptions, and the phase ended alike
    assert lean == reference


def test_the_lean_runner_drives_generator_hooks_itself() -> None:
    runner = LeanExtensionsRunner(execution_context=None,  # type: ignore[arg-type]
                                  extensions=[Quiet(), Recording("e", [])])
    assert isinstance(runner.validation(), Phase)


def test_a_phase_with_any_other_kind_of_hook_is_left_to_strawberry() -> None:
    runner = LeanExtensionsRunner(execution_context=None,  # type: ignore[arg-type]
                                  extensions=[Recording("e", []), AsyncHook()])
    assert isinstance(runner.validation(), ExtensionContextManagerBase)
