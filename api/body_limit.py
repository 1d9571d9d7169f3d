"""Every request body is limited, whatever its content type, while it streams in.

A ``Content-Length`` over the limit is refused before any byte is read; a body without one
(chunked) is counted as it arrives and refused as soon as it passes the limit: never read
whole into memory. The refusal is HTTP 413 with ``extensions.code = "REQUEST_TOO_LARGE"``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import REQUEST_TOO_LARGE, BodyTooLarge, error_payload, respond


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = error_payload(f"request body over {self.max_body} bytes", REQUEST_TOO_LARGE)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.strip().isdigit()
                                   or int(length) > self.max_body):
            await respond(send, 413, refusal)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(f"request body over {self.max_body} bytes")
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await respond(send, 413, refusal)
