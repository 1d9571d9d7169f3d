"""Running a command from a resolver: off the event loop, a domain refusal as a typed error.

``codes`` translates a domain error's code into the API's where a module answers it
differently (an unknown id as ``NOT_FOUND``, ``INVALID_INPUT`` as ``BAD_INPUT``); any other
code goes out as the domain names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from anyio import to_thread

from api.errors import ApiError
from domain.errors import DomainError


async def run_command(command: Callable[[], Any], codes: Mapping[str, str]) -> Any:
    try:
        return await to_thread.run_sync(command)
    except DomainError as error:
        raise ApiError(codes.get(error.code, error.code), error.message,
                       field=error.field) from None
