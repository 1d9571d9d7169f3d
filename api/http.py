"""GraphQL over HTTP: a lean path for the common request, strawberry's view for the rest.

A JSON ``POST`` (one operation, no file uploads, no batching) goes straight to
``schema.execute``; strawberry's view adds ~0.15 ms of content negotiation and
adapters per request, which was a third of a small profile query. Everything
else — GET queries, the GraphiQL page, WebSockets, multipart — goes to the view.

Limits replace strawberry's token limiter (measured at 0.07 ms per request):
a request body over ``max_body`` bytes is refused with 413, a query text over
``max_query`` characters with ``QUERY_TOO_LARGE``; the parser cache means a
document is parsed once anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import strawberry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal
from api.context import Context, Services
from api.observability import OPERATION_KEY
from api.unavailable import RETRY_AFTER, UNAVAILABLE

MAX_BODY = 8 * 1024 * 1024
MAX_QUERY = 20_000


class BodyTooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyTooLarge("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if status == 503:
        headers.append((b"retry-after", RETRY_AFTER.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class JsonPostGraphQL:
    def __init__(self, schema: strawberry.Schema, services: Callable[[], Services],
                 fallback: ASGIApp, *, max_body: int = MAX_BODY,
                 max_query: int = MAX_QUERY) -> None:
        self.schema = schema
        self.services = services
        self.fallback = fallback
        self.max_body = max_body
        self.max_query = max_query

    @staticmethod
    def _is_json_post(scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                return bool(value.split(b";")[0].strip().lower() == b"application/json")
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_json_post(scope):
            await self.fallback(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self.max_body)
        except BodyTooLarge as error:
            await _respond(send, 413, _error(str(error), "REQUEST_TOO_LARGE"))
            return
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            await _respond(send, 400, _error("the body is not valid JSON", "BAD_REQUEST"))
            return
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            await _respond(send, 400, _error(
                'expected one operation: {"query": "...", "variables": {...}}', "BAD_REQUEST"))
            return
        query: str = data["query"]
        if len(query) > self.max_query:
            await _respond(send, 400, _error(
                f"the query is over {self.max_query} characters; send data as variables",
                "QUERY_TOO_LARGE"))
            return
        variables = data.get("variables")
        operation = data.get("operationName")
        if not (variables is None or isinstance(variables, dict)) or not (
                operation is None or isinstance(operation, str)):
            await _respond(send, 400, _error(
                "variables must be an object and operationName a string", "BAD_REQUEST"))
            return
        scope[OPERATION_KEY] = operation  # for the request metrics (api.observability)
        principal: Principal = scope["state"]["principal"]
        context = Context(principal=principal, services=self.services())
        result = await self.schema.execute(query, variable_values=variables,
                                           context_value=context, operation_name=operation)
        payload: dict[str, Any] = {"data": result.data}
        status = 200
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
            if all((e.extensions or {}).get("code") == UNAVAILABLE for e in result.errors):
                status = 503  # nothing but a database outage: tell proxies and clients to retry
        if result.extensions:
            payload["extensions"] = result.extensions
        await _respond(send, status, payload)
