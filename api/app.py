"""The ASGI application: starlette + strawberry; its services come from the lifespan that
the process's composition root (:mod:`siyu.api_process`) gives it."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from anyio import to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from api import ide, staff_console
from api.anonymous_limit import (
    AnonymousLimits,
    ClientAddress,
    FailuresLimitedByAddress,
    trusted_networks,
)
from api.auth import CachedResolver, Principal, bearer_token
from api.body_limit import BodyLimit
from api.catch_all import CatchAll
from api.context import Context, Services
from api.errors import UNAUTHENTICATED
from api.exports import segment_members_csv
from api.http import HttpGraphQL
from api.limits import ApiLimits
from api.login_gate import LoginWithoutToken
from api.rate_limit import RateLimited, SharedRateLimiter
from api.schema import build_schema
from api.unavailable import MESSAGE as UNAVAILABLE_MESSAGE
from api.unavailable import RETRY_AFTER, TRANSIENT, UNAVAILABLE
from api.wecom_callbacks import WeComCallbacks
from api.wecom_crypto import WeComCrypto

NOBODY = Principal(kind="anonymous", subject_id="")
#: The process's lifespan: builds the services before the first request, closes them after.
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
#: Operations (subscriptions, or queries sent over the socket) in flight per WebSocket.
MAX_OPERATIONS_PER_SOCKET = 20


class SiyuGraphQL(GraphQL[Context, None]):
    """WebSockets speak graphql-transport-ws only (the legacy graphql-ws protocol is off).

    A WebSocket is authenticated either by its upgrade request's ``Authorization``
    header (checked by :class:`RequirePrincipal` before the socket is accepted) or,
    since browsers cannot set that header, by ``{"authorization": "Bearer <token>"}``
    in the ``connection_init`` payload (checked in :meth:`on_ws_connect`; a bad one
    closes the socket with 4403). strawberry refuses every operation before the
    connection is acknowledged (4401), so no operation runs without a principal.
    """

    def __init__(self, services: Callable[[], Services], resolver: Callable[[], CachedResolver],
                 *, debug: bool, limits: ApiLimits) -> None:
        super().__init__(build_schema(debug=debug, limits=limits),
                         graphql_ide=None if limits.production else "graphiql",
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         connection_init_wait_timeout=timedelta(seconds=10),
                         max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
                         # GET executes nothing: a link or an <img> must never run an
                         # operation, and the auth gate lets GET through for GraphiQL.
                         allow_queries_via_get=False)
        self._services = services
        self._resolver = resolver

    async def render_graphql_ide(self, request: Request) -> Response:
        return ide.page()  # from the package's files, not a CDN

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        unset: UnsetType = UNSET
        if context.principal is not NOBODY:
            return unset  # authenticated by the upgrade request's header
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        token = bearer_token(raw) if isinstance(raw, str) else None
        if token is None:
            raise ConnectionRejectionError()
        resolver = self._resolver()
        principal = resolver.peek(token) or await to_thread.run_sync(resolver, token)
        if principal is None:
            raise ConnectionRejectionError()
        context.principal = principal
        return unset

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        # Only the GraphiQL page itself is served without a principal (see
        # RequirePrincipal); it executes nothing, so it gets one that sees nothing.
        principal: Principal = request.scope.get("state", {}).get("principal", NOBODY)
        return Context(principal=principal, services=self._services(), request=request,
                       response=response)


class RequirePrincipal:
    """Refuse requests without a valid bearer token (GraphiQL's page itself is public)."""

    def __init__(self, app: ASGIApp, resolver: Callable[[], CachedResolver], *,
                 websocket_init_auth: bool = False,
                 anonymous: AnonymousLimits | None = None) -> None:
        self.app = app
        self.resolver = resolver
        #: Refusals are limited per client address (a token guesser gets 429).
        self.anonymous = anonymous
        # True only in front of SiyuGraphQL, which authenticates connection_init itself.
        self.websocket_init_auth = websocket_init_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope["type"] == "http" and _is_ide_page_request(scope, headers):
            await self.app(scope, receive, send)  # the GraphiQL page
            return
        if (scope["type"] == "websocket" and self.websocket_init_auth
                and "authorization" not in headers):
            # Authenticated by the connection_init payload instead (SiyuGraphQL.on_ws_connect).
            await self.app(scope, receive, send)
            return
        token = bearer_token(headers.get("authorization"))
        principal = None
        if token is not None:
            resolver = self.resolver()
            principal = resolver.peek(token)
            if principal is None:
                try:
                    principal = await to_thread.run_sync(resolver, token)
                except TRANSIENT:
                    await _unavailable(scope, receive, send)
                    return
        if principal is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
                return
            if self.anonymous is not None and not await self.anonymous.by_address(scope, send):
                return
            body = {"errors": [{"message": "a valid 'Authorization: Bearer <token>' is required",
                                "extensions": {"code": UNAUTHENTICATED}}]}
            response = Response(json.dumps(body), status_code=401,
                                media_type="application/json",
                                headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


#: Parameters that make a GET an operation rather than a request for the GraphiQL page.
OPERATION_PARAMETERS = frozenset({"query", "variables", "operationName", "extensions"})


def _is_ide_page_request(scope: Scope, headers: dict[str, str]) -> bool:
    """A browser asking for the GraphiQL page, decided on the *parsed* query string:
    ``?quer%79=`` is ``query`` to every parser downstream, so it is here too.
    (The view executes no operation sent by GET in any case: see SiyuGraphQL.)"""
    if scope.get("method") != "GET" or "text/html" not in headers.get("accept", ""):
        return False
    raw = scope.get("query_string", b"").decode("latin-1")
    names = {name for name, _ in parse_qsl(raw, keep_blank_values=True)}
    return not names & OPERATION_PARAMETERS


def _is_ide_page(scope: Scope) -> bool:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1")
               for k, v in scope.get("headers", [])}
    return _is_ide_page_request(scope, headers)


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """The token could not be checked: the database is away (never a plain-text 500)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1013})  # try again later
        return
    body = {"errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": {"code": UNAVAILABLE}}]}
    response = Response(json.dumps(body), status_code=503, media_type="application/json",
                        headers={"Retry-After": RETRY_AFTER})
    await response(scope, receive, send)


def asgi_app(services: Callable[[], Services], resolver: Callable[[], CachedResolver], *,
             lifespan: Lifespan, debug: bool = False,
             wecom_crypto: WeComCrypto | None = None,
             limits: ApiLimits | None = None) -> Starlette:
    """The routes over ``services`` and ``resolver``, which ``lifespan`` (the process's
    composition root, :mod:`siyu.api_process`) makes available before the first request."""
    limits = limits or ApiLimits()
    graphql = SiyuGraphQL(services, resolver, debug=debug, limits=limits)
    fast = HttpGraphQL(graphql.schema, services, graphql,  # type: ignore[arg-type]
                       limits=limits, is_ide_page=_is_ide_page)
    limiter = SharedRateLimiter(limits, lambda: services().rate_buckets)
    anonymous = AnonymousLimits(lambda: limiter,
                                ClientAddress(trusted_networks(limits.trusted_proxies)))

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    guarded = RequirePrincipal(RateLimited(fast, lambda: limiter), resolver,
                               websocket_init_auth=True, anonymous=anonymous)
    wecom = WeComCallbacks(wecom_crypto, services)
    return Starlette(
        routes=[
            Route("/healthz", health),
            # Exact paths: a Mount would redirect POST /graphql to /graphql/.
            # loginWithWeChat alone passes without a token (api/login_gate.py).
            Route("/graphql", LoginWithoutToken(fast, guarded, anonymous),
                  methods=["GET", "POST"]),
            WebSocketRoute("/graphql", guarded),
            Route("/exports/segments/{segment_id}/members.csv",
                  RequirePrincipal(RateLimited(_as_asgi(segment_members_csv(services)),
                                               lambda: limiter), resolver, anonymous=anonymous),
                  methods=["GET"]),
            # GraphiQL's scripts and styles, installed with the package.
            *([] if limits.production else [Route("/graphiql/{name}", ide.asset)]),
            # The staff console: static, read-only; its pages send the reader's own token.
            Route("/console", staff_console.page), Route("/console/{name}", staff_console.asset),
            # WeCom signs its callbacks: no bearer token there.
            Route("/callbacks/wecom", FailuresLimitedByAddress(_as_asgi(wecom.handle), anonymous),
                  methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
        # JSON errors only: a bug answers INTERNAL, a body over the limit 413, whatever route.
        middleware=[Middleware(CatchAll), Middleware(BodyLimit, max_body=limits.max_body)],
    )


def _as_asgi(endpoint: Callable[[Request], Any]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)
    return app
