"""The ASGI application: starlette + strawberry, wired in the lifespan."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from anyio import to_thread
from psycopg.conninfo import make_conninfo
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from adapters.tokens import ensure_token_table, resolve_token
from adapters.vault import AesGcmVault, derive_key
from api.auth import CachedResolver, Principal, bearer_token
from api.batcher import WriteBatcher
from api.context import Context, Services
from api.errors import UNAUTHENTICATED
from api.exports import segment_members_csv
from api.http import JsonPostGraphQL
from api.leaderboard import compute as compute_leaderboard
from api.live import LeaderboardHub
from api.read_models import ReadModels, open_pool
from api.schema import build_schema
from api.unavailable import (
    DATABASE_WAIT,
    RETRY_AFTER,
    TRANSIENT,
    UNAVAILABLE,
)
from api.unavailable import MESSAGE as UNAVAILABLE_MESSAGE
from api.wecom_callbacks import WeComCallbacks
from api.wecom_crypto import WeComCrypto
from siyu.bootstrap import build_application
from siyu.processes import prepare_read_models
from siyu.settings import Settings

NOBODY = Principal(kind="anonymous", subject_id="")
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
                 *, debug: bool) -> None:
        super().__init__(build_schema(debug=debug), graphql_ide="graphiql",
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         connection_init_wait_timeout=timedelta(seconds=10),
                         max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
                         # GET executes nothing: a link or an <img> must never run an
                         # operation, and the auth gate lets GET through for GraphiQL.
                         allow_queries_via_get=False)
        self._services = services
        self._resolver = resolver

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
                 websocket_init_auth: bool = False) -> None:
        self.app = app
        self.resolver = resolver
        # True only in front of SiyuGraphQL, which authenticates connection_init itself.
        self.websocket_init_auth = websocket_init_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
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


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """The token could not be checked: the database is away (never a plain-text 500)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1013})  # try again later
        return
    body = {"errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": {"code": UNAVAILABLE}}]}
    response = Response(json.dumps(body), status_code=503, media_type="application/json",
                        headers={"Retry-After": RETRY_AFTER})
    await response(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; connections open in the lifespan, not here."""
    if settings.database_url is None:
        raise ValueError("the API needs settings.database_url (the CLI provides one)")
    database_url = settings.database_url
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        app = build_application(database_url, settings.secret, wait=DATABASE_WAIT)
        tracker = prepare_read_models(app)
        ensure_token_table(database_url)
        pool = open_pool(database_url, wait=DATABASE_WAIT)
        await pool.open()
        batcher = WriteBatcher(app)
        batcher.start()
        read_models = ReadModels(pool)
        hub = LeaderboardHub(database_url, lambda key: compute_leaderboard(
            pool, key, settings.chat_timeout_minutes * 60))
        await hub.start()
        holder["services"] = Services(
            app=app,
            read_models=read_models,
            tracker=tracker,
            vault=AesGcmVault(settings.secret),
            blind_key=derive_key(settings.secret, "blind-index"),
            batcher=batcher,
            leaderboards=hub,
            chat_timeout_seconds=settings.chat_timeout_minutes * 60,
        )
        holder["resolver"] = CachedResolver(_token_lookup(database_url))
        settle_garbage_collector()
        try:
            yield
        finally:
            await hub.stop()
            await batcher.stop()
            await pool.close()
            app.close()

    graphql = SiyuGraphQL(lambda: holder["services"], lambda: holder["resolver"],
                          debug=settings.debug)
    fast = JsonPostGraphQL(graphql.schema, lambda: holder["services"], graphql)  # type: ignore[arg-type]

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    guarded = RequirePrincipal(fast, lambda: holder["resolver"], websocket_init_auth=True)
    crypto = None
    if settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id:
        crypto = WeComCrypto(settings.wecom_token, settings.wecom_encoding_aes_key,
                             settings.wecom_corp_id)
    wecom = WeComCallbacks(crypto, lambda: holder["services"])
    return Starlette(
        routes=[
            Route("/healthz", health),
            # Exact paths: a Mount would redirect POST /graphql to /graphql/.
            Route("/graphql", guarded, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", guarded),
            Route("/exports/segments/{segment_id}/members.csv",
                  RequirePrincipal(_as_asgi(segment_members_csv(lambda: holder["services"])),
                                   lambda: holder["resolver"]), methods=["GET"]),
            # WeCom signs its callbacks: no bearer token there.
            Route("/callbacks/wecom", wecom.handle, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )


def settle_garbage_collector() -> None:
    """After start-up: freeze what was built (never collected again) and collect young
    objects less often. Collections of the long-lived heap were a large part of the
    tail latency under load (p99 at 10 clients: 56 ms with, 18 ms without the GC)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _as_asgi(endpoint: Callable[[Request], Any]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)
    return app


def _token_lookup(database_url: str) -> Callable[[str], Principal | None]:
    # A token is checked on a connection of its own: give up as fast as the pools do.
    checked_url = make_conninfo(database_url, connect_timeout=DATABASE_WAIT)

    def lookup(token: str) -> Principal | None:
        found = resolve_token(checked_url, token)
        if found is None:
            return None
        kind, subject_id, role = found
        return Principal(kind=kind, subject_id=subject_id, role=role)

    return lookup
