"""The API process's composition root: settings → adapters and services → the ASGI app.

``create_app(settings)`` returns the starlette app (served by ``siyu serve``, and by tests
through starlette's TestClient); its lifespan opens the connections, so nothing is built
at import time and nothing outlives the app.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from psycopg.rows import tuple_row
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.rate_buckets import RateBuckets
from adapters.tokens import (
    TokenStore,
    ensure_token_table,
    holder_of,
    issue_customer_session,
    revoke_subject_tokens,
)
from adapters.vault import AesGcmVault, derive_key
from api.app import asgi_app
from api.auth import CachedResolver, Principal
from api.batcher import WriteBatcher
from api.context import Services
from api.leaderboard import compute as compute_leaderboard
from api.limits import DEFAULT_COST_BUDGETS, DEFAULT_RATE_LIMITS, ApiLimits
from api.live import LeaderboardHub
from api.observability import RequestTimer
from api.persisted import PersistedQueries
from api.read_models import ReadModels, open_pool
from api.unavailable import DATABASE_WAIT
from api.wecom_crypto import WeComCrypto
from projections.staff_directory.queries import standing
from siyu.api_workers import BALANCED, AddressInUse, serve_workers
from siyu.bootstrap import build_application
from siyu.garbage import settle_garbage_collector
from siyu.gateways import wechat_login_for
from siyu.health import readiness
from siyu.metrics import DatabaseCollector, RequestMetrics
from siyu.processes import prepare_read_models, read_model_views
from siyu.settings import Settings, from_env


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; connections open in the lifespan, not here."""
    if settings.database_url is None:
        raise ValueError("the API needs settings.database_url (the CLI provides one)")
    database_url = settings.database_url
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        app = build_application(database_url, settings.secret, wait=DATABASE_WAIT,
                                pool=settings.pools["api"])
        tracker = prepare_read_models(app, build_new_versions=False)  # never waits for a build
        ensure_token_table(database_url, settings.token_ttl_seconds)
        pool = open_pool(database_url, wait=DATABASE_WAIT,
                         max_size=settings.pools["api_reads"])
        await pool.open()
        batcher = WriteBatcher(app)
        batcher.start()
        hub = LeaderboardHub(database_url, lambda key: compute_leaderboard(
            pool, key, settings.chat_timeout_minutes * 60))
        await hub.start()
        wechat_login = wechat_login_for(settings)
        buckets = RateBuckets(pool=pool) if settings.rate_limit_shared else None
        if buckets is not None:
            await buckets.open()
        holder["services"] = Services(
            app=app,
            read_models=ReadModels(pool),
            tracker=tracker,
            vault=AesGcmVault(settings.secret),
            blind_key=derive_key(settings.secret, "blind-index"),
            batcher=batcher,
            leaderboards=hub,
            chat_timeout_seconds=settings.chat_timeout_minutes * 60,
            tokens=TokenStore(database_url),
            wechat_login=wechat_login,
            customer_sessions=lambda customer_id: issue_customer_session(
                database_url, customer_id, timedelta(minutes=settings.customer_token_minutes)),
            revoke_customer_tokens=lambda customer_id: revoke_subject_tokens(
                database_url, "customer", customer_id),
            rate_buckets=buckets,
            wecom_tag_ids=dict(settings.wecom_tag_ids),
        )
        datastore = app.factory.datastore  # type: ignore[attr-defined]
        resolver = CachedResolver(token_lookup(datastore.get_connection))
        holder["services"].principals_changed = resolver.clear
        holder["resolver"] = resolver
        collector = DatabaseCollector(datastore.get_connection,
                                      pools={"events": datastore.pool, "reads": pool})
        registry.register(collector)
        holder["connect"] = datastore.get_connection
        settle_garbage_collector()
        try:
            yield
        finally:
            registry.unregister(collector)
            await hub.stop()
            await batcher.stop()
            await pool.close()
            if buckets is not None:
                await buckets.close()
            app.close()
            if wechat_login is not None:
                wechat_login.close()

    registry = CollectorRegistry(auto_describe=False)
    requests = RequestMetrics(registry)
    crypto = None
    if settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id:
        crypto = WeComCrypto(settings.wecom_token, settings.wecom_encoding_aes_key,
                             settings.wecom_corp_id)
    api = asgi_app(lambda: holder["services"], lambda: holder["resolver"],
                   lifespan=lifespan, debug=settings.debug, wecom_crypto=crypto,
                   limits=api_limits(settings))
    api.add_middleware(RequestTimer, observe=requests.observe)
    names = [view.name for view in read_model_views()]

    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def ready(_: Request) -> JSONResponse:
        ok, found = await run_in_threadpool(readiness, holder["connect"], names,
                                            settings.ready_max_lag)
        return JSONResponse({"status": "ready" if ok else "not ready", **found},
                            status_code=200 if ok else 503)

    api.router.routes.extend([Route("/metrics", metrics), Route("/readyz", ready)])
    return api


def api_limits(settings: Settings) -> ApiLimits:
    """The API's limits from the settings (the persisted-query manifest is read here, so a
    bad one stops the server at start-up, not at the first request)."""
    manifest = settings.persisted_queries
    return ApiLimits(
        production=settings.production,
        cost_budgets={**DEFAULT_COST_BUDGETS, **settings.query_cost_budgets},
        rate_limits={**DEFAULT_RATE_LIMITS, **settings.rate_limits},
        max_body=settings.max_body_bytes,
        persisted=None if manifest is None else PersistedQueries.load(manifest),
        require_persisted=settings.require_persisted_queries,
        trusted_proxies=settings.trusted_proxies,
    )


#: Seconds a worker of ``siyu serve --workers N`` may take to answer uvicorn's health ping
#: (its default, 5 s, includes the spawned interpreter's own start: on a loaded machine
#: that took longer, and uvicorn killed and respawned every worker before it served once).
WORKER_HEALTHCHECK_SECONDS = 60


def serve(settings: Settings, *, workers: int = 1) -> None:
    """``siyu serve [--workers N]``: the API under uvicorn until SIGINT/SIGTERM; with
    ``workers`` > 1, that many processes serve the port, each on its own socket on Linux
    (:mod:`siyu.api_workers`), each building the app from the environment, where the
    database URL is put for them."""
    import uvicorn

    # No access log: URLs of GET queries can carry personal data in their variables.
    # log_config=None: uvicorn's lines go through the process's (JSON) log handler.
    if workers <= 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info", access_log=False, log_config=None)
        return
    assert settings.database_url is not None
    os.environ.update(DATABASE_URL=settings.database_url,  # for the worker processes
                      SIYU_SECRET=settings.secret.decode())
    if BALANCED:  # each worker on its own socket, the kernel balancing (siyu.api_workers)
        try:
            gave_up = serve_workers("siyu.api_process:app_from_environment", settings.host,
                                    settings.port, workers)
        except AddressInUse as error:
            raise SystemExit(f"siyu: {error}") from None
        if gave_up is not None:
            raise SystemExit(f"siyu: {gave_up}")
        return
    uvicorn.run("siyu.api_process:app_from_environment", factory=True, workers=workers,
                host=settings.host, port=settings.port, log_level="info", access_log=False,
                log_config=None, timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)


def app_from_environment() -> Starlette:
    """The app of one of ``siyu serve --workers N``'s processes."""
    import logging

    from siyu.logs import formatter

    settings = from_env()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings.log_format))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    return create_app(settings)


def token_lookup(connection: Callable[[], contextlib.AbstractContextManager[Any]]
                 ) -> Callable[[str], Principal | None]:
    """Tokens resolved from the token table, a staff member's role and department from
    the staff directory as it is now (the API caches the answers a few seconds): a
    token of a member who left, or who is not in the directory, resolves to nobody.

    ``connection`` lends one from the API's event-store pool (it waits as long as a write
    does): a check opens no connection of its own, so the API's count stays its pools'."""

    def lookup(token: str) -> Principal | None:
        with connection() as conn:
            rows = conn.row_factory
            conn.row_factory = tuple_row  # the event store's connections give dicts
            try:
                holder = holder_of(conn, token)
                found = None if holder is None or holder.kind != "staff" else standing(
                    conn, holder.subject_id)
            finally:
                conn.row_factory = rows
        if holder is None:
            return None
        if holder.kind != "staff":
            return Principal(kind=holder.kind, subject_id=holder.subject_id,
                             grants=holder.grants)
        if found is None:
            return None
        role, department, members = found
        return Principal(kind="staff", subject_id=holder.subject_id, role=role,
                         department=department, department_staff=members,
                         grants=holder.grants)

    return lookup
