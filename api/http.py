"""GraphQL over HTTP: every request but the GraphiQL page and WebSockets is answered here.

One operation per request, as JSON: a ``POST`` whose content type is ``application/json``
(or any ``application/*+json``), or a ``GET`` that names a persisted query
(:mod:`api.persisted`; a GET runs nothing else, and only queries). Every other request is
refused with a JSON error and its ``extensions.code``: another content type (415
``UNSUPPORTED_MEDIA_TYPE``; this API takes no uploads), a body over ``max_body`` bytes (413
``REQUEST_TOO_LARGE``, read no further), a query text over ``max_query`` characters
(``QUERY_TOO_LARGE``), an empty or malformed request (400 ``BAD_REQUEST``).

Going straight to ``schema.execute`` also skips strawberry's view, whose content negotiation
and adapters cost ~0.15 ms per request (a third of a small profile query), and whose own
refusals are plain text. The view still serves the GraphiQL page and WebSockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import strawberry
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from api.auth import Principal
from api.context import Context, Services
from api.errors import ApiError
from api.limits import ApiLimits
from api.observability import OPERATION_KEY
from api.persisted import BAD_REQUEST, NO_PERSISTED_QUERIES, PERSISTED_QUERY_REQUIRED
from api.unavailable import RETRY_AFTER, UNAVAILABLE

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION)


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refused as soon as more than ``limit`` bytes have come."""
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


async def respond(send: Send, status: int, payload: dict[str, Any],
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    all_headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()), *(headers or [])]
    if status == 503:
        all_headers.append((b"retry-after", RETRY_AFTER.encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


def error_payload(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.status = status
        self.payload = error_payload(message, code, **extensions)


def is_json(content_type: bytes) -> bool:
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json"))


class HttpGraphQL:
    def __init__(self, schema: strawberry.Schema, services: Callable[[], Services],
                 fallback: ASGIApp, *, limits: ApiLimits | None = None,
                 is_ide_page: Callable[[Scope], bool] = lambda _: False) -> None:
        self.schema = schema
        self.services = services
        self.fallback = fallback
        self.limits = limits or ApiLimits()
        self.persisted = self.limits.persisted or NO_PERSISTED_QUERIES
        self.is_ide_page = is_ide_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        if self.is_ide_page(scope):
            if self.limits.production:
                await respond(send, 404, error_payload(
                    "GraphiQL is off in production", "NOT_FOUND"))
                return
            await self.fallback(scope, receive, send)
            return
        allowed: tuple[OperationType, ...]
        try:
            if scope.get("method") == "GET":
                request, allowed = self._get_request(scope), (OperationType.QUERY,)
            else:
                request, allowed = await self._post_request(scope, receive), ALL_OPERATIONS
            query = self._query(request, get=scope.get("method") == "GET")
        except Refused as refused:
            await respond(send, refused.status, refused.payload)
            return
        await self._execute(scope, send, query, request, allowed)

    def _get_request(self, scope: Scope) -> dict[str, Any]:
        raw = scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(raw, keep_blank_values=True))
        request: dict[str, Any] = {"query": params.get("query"),
                                   "operationName": params.get("operationName")}
        for name in ("variables", "extensions"):
            if params.get(name):
                try:
                    request[name] = json.loads(params[name])
                except ValueError:
                    raise Refused(400, BAD_REQUEST, f"{name} is not valid JSON") from None
        if not (request.get("extensions") or {}).get("persistedQuery"):
            raise Refused(405, PERSISTED_QUERY_REQUIRED, "a GET runs persisted queries only "
                          "(extensions.persistedQuery.sha256Hash); send other operations "
                          "by POST")
        return request

    async def _post_request(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        if not is_json(content_type):
            raise Refused(415, UNSUPPORTED_MEDIA_TYPE,
                          "send one operation as application/json")
        try:
            body = await read_body(receive, self.limits.max_body)
        except BodyTooLarge as error:
            raise Refused(413, REQUEST_TOO_LARGE, str(error)) from None
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refused(400, BAD_REQUEST, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, BAD_REQUEST,
                          'expected one operation: {"query": "...", "variables": {...}}')
        return data

    def _query(self, request: dict[str, Any], *, get: bool) -> str:
        query = request.get("query")
        variables, operation = request.get("variables"), request.get("operationName")
        if not (query is None or isinstance(query, str)) or not (
                variables is None or isinstance(variables, dict)) or not (
                operation is None or isinstance(operation, str)):
            raise Refused(400, BAD_REQUEST, "query and operationName must be strings and "
                          "variables an object")
        if query is not None and not query.strip():
            raise Refused(400, BAD_REQUEST, "the query is empty")
        if query is not None and len(query) > self.limits.max_query:
            raise Refused(400, QUERY_TOO_LARGE, f"the query is over {self.limits.max_query} "
                          "characters; send data as variables")
        try:
            return self.persisted.resolve(query, request.get("extensions"),
                                          require=self.limits.require_persisted and not get)
        except ApiError as error:
            raise Refused(400, error.code, error.message, **{
                k: v for k, v in (error.extensions or {}).items() if k != "code"}) from None

    async def _execute(self, scope: Scope, send: Send, query: str, request: dict[str, Any],
                       allowed: tuple[OperationType, ...]) -> None:
        scope[OPERATION_KEY] = request.get("operationName")  # the request metrics' label
        principal: Principal = scope["state"]["principal"]
        context = Context(principal=principal, services=self.services())
        try:
            result = await self.schema.execute(
                query, variable_values=request.get("variables"), context_value=context,
                operation_name=request.get("operationName"), allowed_operation_types=allowed)
        except InvalidOperationTypeError:
            await respond(send, 405, error_payload(
                "a GET runs queries only; send mutations by POST", BAD_REQUEST))
            return
        except (CannotGetOperationTypeError, MissingQueryError):
            await respond(send, 400, error_payload(
                "the document holds no operation, or operationName names none of its "
                "operations", BAD_REQUEST))
            return
        payload: dict[str, Any] = {"data": result.data}
        status = 200
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
            if all((e.extensions or {}).get("code") == UNAVAILABLE for e in result.errors):
                status = 503  # nothing but a database outage: tell proxies and clients to retry
        if result.extensions:
            payload["extensions"] = result.extensions
        await respond(send, status, payload)
