"""The API as deployed, plus a plain starlette endpoint returning the same profile row.

Run by the benchmarks in its own process: ``python -m bench.server``; with
``BENCH_API_WORKERS=N`` (N > 1) as N worker processes serving the port as ``siyu serve
--workers N`` runs them (:mod:`siyu.api_workers`), each with its own application and pools.
``BENCH_LOOP=asyncio`` serves one process on the standard library's loop instead of uvloop
(uvicorn's ``auto``, as ``siyu serve`` runs), to compare the two.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.read_models import ReadModels, open_pool
from siyu.api_process import WORKER_HEALTHCHECK_SECONDS, create_app
from siyu.api_workers import BALANCED, serve_workers
from siyu.settings import from_env


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, UUID)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    raise TypeError(type(value).__name__)


def build() -> ASGIApp:
    settings = from_env()
    assert settings.database_url is not None
    url = settings.database_url
    inner = create_app(settings)
    state: dict[str, ReadModels] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with inner.router.lifespan_context(inner):
            pool = open_pool(url)
            await pool.open()
            state["read_models"] = ReadModels(pool)
            yield
            await pool.close()

    async def plain(request: Request) -> Response:
        row = await state["read_models"].profile(UUID(request.path_params["id"]))
        return Response(json.dumps(row, default=_default), media_type="application/json")

    baseline = Starlette(routes=[Route("/plain/{id}", plain)], lifespan=lifespan)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # The API as `siyu serve` serves it (not mounted in a second app, whose middleware
        # and routing every GraphQL request would cross too); the baseline its own app.
        if scope["type"] == "lifespan" or scope.get("path", "").startswith("/plain/"):
            await baseline(scope, receive, send)
        else:
            await inner(scope, receive, send)

    return app


if __name__ == "__main__":
    port = from_env().port
    workers = int(os.environ.get("BENCH_API_WORKERS", "1"))
    loop = os.environ.get("BENCH_LOOP", "auto")
    if workers > 1 and BALANCED:  # as `siyu serve --workers N` runs them (siyu.api_workers)
        serve_workers("bench.server:build", "127.0.0.1", port, workers)
    elif workers > 1:  # each worker process builds its own app (uvicorn needs an import string)
        uvicorn.run("bench.server:build", factory=True, workers=workers, host="127.0.0.1",
                    port=port, log_level="warning", access_log=False, loop=loop,
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)
    else:
        uvicorn.run(build(), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                    loop=loop)
