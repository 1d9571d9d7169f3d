"""Request timing for ``/metrics``: route, GraphQL operation, status and duration of every
HTTP request, handed to an ``observe`` callback (the process's metrics, built by its
wiring point: this module knows nothing of Prometheus).

Labels stay bounded: a path is reported as its route (``other`` for any path the API does
not serve); the operation is the ``operationName`` :class:`api.http.JsonPostGraphQL` read
from the request (the metrics side caps distinct names).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where ``JsonPostGraphQL`` leaves the request's operation name in the ASGI scope.
OPERATION_KEY = "siyu.operation"
ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics", "/callbacks/wecom")
EXPORTS = "/exports/segments/"

Observe = Callable[[str, "str | None", int, float], None]


def route_of(path: str) -> str:
    if path in ROUTES:
        return path
    if path.startswith(EXPORTS) and path.endswith("/members.csv"):
        return EXPORTS + "{segment_id}/members.csv"
    return "other"


class RequestTimer:
    """ASGI middleware: observes each HTTP request once its response has been sent."""

    def __init__(self, app: ASGIApp, observe: Observe) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            operation = scope.get(OPERATION_KEY)
            self.observe(route_of(str(scope.get("path", ""))),
                         operation if isinstance(operation, str) else None, status,
                         time.perf_counter() - started)
