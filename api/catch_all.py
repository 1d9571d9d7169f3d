"""The last word on a request: a bug anywhere below answers JSON ``INTERNAL``, never the
server's plain-text 500, and is logged by class and route only (an exception's message can
quote the request, which can carry personal data)."""

from __future__ import annotations

import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import error_payload, respond

INTERNAL = "INTERNAL"
log = logging.getLogger(__name__)


class CatchAll:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            frames = traceback.extract_tb(error.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "-"
            log.error("unexpected %s at %s on %s %s", type(error).__name__, where,
                      scope.get("method"), scope.get("path"))
            if started:
                raise
            await respond(send, 500, error_payload("Unexpected error.", INTERNAL))
