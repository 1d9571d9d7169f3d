"""One WeCom API method of a fake, as an HTTP endpoint: the access token checked first (a
refused one answers WeCom's errcode and nothing runs), then the request's JSON body — or, for
WeCom's few GET methods, its query parameters — handed to the fake's ``call``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

#: A fake's dispatcher: (method name, body) → (HTTP status, JSON reply).
Call = Callable[[str, Any], tuple[int, dict[str, Any]]]
TokenError = Callable[[str], dict[str, Any] | None]


def wecom_endpoint(call: Call, method: str, token_error: TokenError
                   ) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> JSONResponse:
        refused = token_error(request.query_params.get("access_token", ""))
        if refused is not None:
            return JSONResponse(refused)
        if request.method == "GET":
            body: Any = dict(request.query_params)
        else:
            try:
                body = await request.json()
            except ValueError:
                body = None
        status, reply = call(method, body)
        return JSONResponse(reply, status_code=status)
    return endpoint
