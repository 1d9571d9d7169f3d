"""The unit tier does no I/O: a test here that reaches for the network fails at once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


class NetworkInAUnitTest(AssertionError):
    pass


def _refuse(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise NetworkInAUnitTest(f"a unit test connected to {address!r}: "
                                 "it belongs in tests/integration")
    return _connect(self, address)


def _refuse_ex(self: socket.socket, address: Any) -> Any:
    _refuse(self, address)
    return _connect_ex(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse_ex)
    yield
