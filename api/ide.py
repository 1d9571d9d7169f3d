"""GraphiQL from files installed with the package (``api/graphiql/``), never from a CDN.

The page is served at ``/graphql`` to a browser (outside production) and loads its scripts
and styles from ``/graphiql/<file>`` on the same server, so it works offline and behind
firewalls. The files are the npm packages' own (see ``api/graphiql/LICENSES.md``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

#: The files ``/graphiql/<name>`` serves, with their media types.
ASSETS = {
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.css": "text/css; charset=utf-8",
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
    "LICENSES.md": "text/markdown; charset=utf-8",
}
#: The assets never change within a version of the package.
CACHE_CONTROL = "public, max-age=86400"


@cache
def _read(name: str) -> bytes:
    return resources.files("api").joinpath("graphiql", name).read_bytes()


def page() -> HTMLResponse:
    return HTMLResponse(_read("index.html"))


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return JSONResponse({"errors": [{"message": "no such file",
                                         "extensions": {"code": "NOT_FOUND"}}]}, status_code=404)
    return Response(_read(name), media_type=media_type, headers={"Cache-Control": CACHE_CONTROL})
