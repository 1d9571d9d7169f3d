"""The staff console at ``/console``: static pages installed with the package
(``api/console/``), never from a CDN, that read the GraphQL API with the reader's own token.

The console is read-only and holds no session: the token is typed once and kept in the
tab's ``sessionStorage``, sent as ``Authorization: Bearer`` (and in ``connection_init`` on
the leaderboard's WebSocket), so no cookie is ever set and no request is made on the
reader's behalf by another site. What a token may see is decided by the API
(:mod:`api.policy`); the pages show ``FORBIDDEN`` answers as such. See docs/console.md.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

#: The files ``/console/<name>`` serves, with their media types.
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "data.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "reports.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
#: Same origin only: scripts, styles and the API's HTTP and WebSocket endpoints.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("api").joinpath("console", name).read_bytes()


async def page(request: Request) -> Response:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return JSONResponse({"errors": [{"message": "no such file",
                                         "extensions": {"code": "NOT_FOUND"}}]}, status_code=404)
    return Response(_read(name), media_type=media_type, headers=HEADERS)
