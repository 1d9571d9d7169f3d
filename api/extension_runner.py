"""The schema extensions' hooks, run without building a context manager per hook per request.

strawberry makes each of an operation's phases (operation, parsing, validation, execution)
a context manager that wraps every extension's hook in ``contextlib.contextmanager`` —
a new decorated function, ``functools.wraps`` and an ``ExitStack`` entry per hook —
every request. Our hooks are plain generator functions (code before the ``yield``, code
after it), so this runner drives the generators itself, with strawberry's order and
exception semantics: hooks start in the extensions' order and finish in reverse; a
phase's exception is thrown into each hook at its ``yield``; a hook that swallows it hides
it from the hooks outside it (the phase still raises it), and one that raises another
hands that one to the hooks outside it, and out of the phase. A phase with any other kind
of hook (async generator, plain callable) is left to strawberry's own manager.
Measured in-process on the profile query: 763 → 652 µs of CPU per ``schema.execute``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

Hook = Callable[[SchemaExtension], Generator[None, None, None]]

#: strawberry's phase managers, by hook name: used when a hook is not a generator function.
_STRAWBERRY: dict[str, type[ExtensionContextManagerBase]] = {
    manager.HOOK_NAME: manager for manager in (
        OperationContextManager, ParsingContextManager, ValidationContextManager,
        ExecutingContextManager)}
#: Not a generator function: the phase goes to strawberry's manager.
_OTHER = object()
#: (extension class, hook name) → its hook, None when it keeps the default (does nothing).
_HOOKS: dict[tuple[type[SchemaExtension], str], Any] = {}


def _hook(cls: type[SchemaExtension], name: str) -> Any:
    key = (cls, name)
    if key not in _HOOKS:
        found = getattr(cls, name)
        if found is getattr(SchemaExtension, name):
            _HOOKS[key] = None
        else:
            _HOOKS[key] = found if inspect.isgeneratorfunction(found) else _OTHER
    return _HOOKS[key]


class LeanExtensionsRunner(SchemaExtensionsRunner):
    def operation(self) -> Any:
        return self._phase(OperationContextManager.HOOK_NAME)

    def parsing(self) -> Any:
        return self._phase(ParsingContextManager.HOOK_NAME)

    def validation(self) -> Any:
        return self._phase(ValidationContextManager.HOOK_NAME)

    def executing(self) -> Any:
        return self._phase(ExecutingContextManager.HOOK_NAME)

    def _phase(self, name: str) -> Phase | ExtensionContextManagerBase:
        hooks: list[tuple[Hook, SchemaExtension]] = []
        for extension in self.extensions:
            hook = _hook(type(extension), name)
            if hook is _OTHER:
                return _STRAWBERRY[name](self.extensions)
            if hook is not None:
                hooks.append((hook, extension))
        return Phase(hooks)


class Phase:
    """One phase's generator hooks, usable with ``with`` and ``async with``."""

    __slots__ = ("_hooks", "_running")

    def __init__(self, hooks: list[tuple[Hook, SchemaExtension]]) -> None:
        self._hooks = hooks
        self._running: list[Generator[None, None, None]] = []

    def __enter__(self) -> None:
        for hook, extension in self._hooks:
            generator = hook(extension)
            try:
                next(generator)
            except StopIteration:
                raise RuntimeError("generator didn't yield") from None
            self._running.append(generator)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        raising = False
        while self._running:
            try:
                if _finish(self._running.pop(), error):
                    raising, error = False, None
            except BaseException as raised:
                raising, error = True, raised
        if raising:
            assert error is not None
            raise error
        # Returns None, as strawberry's phases do: a hook that swallows the phase's
        # exception hides it from the hooks outside it, but the phase still raises it.

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.__exit__(kind, error, traceback)


def _finish(generator: Generator[None, None, None], error: BaseException | None) -> bool:
    """Resume a hook after its phase; True if it swallowed ``error``."""
    if error is None:
        try:
            next(generator)
        except StopIteration:
            return False
        raise RuntimeError("generator didn't stop")
    try:
        generator.throw(error)
    except StopIteration:
        return True
    except RuntimeError as raised:
        # A StopIteration thrown in comes back as RuntimeError (PEP 479): not swallowed.
        if raised is error or (isinstance(error, StopIteration) and raised.__cause__ is error):
            return False
        raise
    except BaseException as raised:
        if raised is error:
            return False
        raise
    raise RuntimeError("generator didn't stop after throw()")
