"""The memories web page at `/`: static files shipped in the package, over the REST API, no other origin."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from typing import Final, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

Access = Literal["oauth", "token", "none"]

_TYPES: Final = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("web", name).read_text(encoding="utf-8")


def page_routes(*, access: Access, user: str | None, resource: str) -> list[Route]:
    """`/` (the page, told how to sign in and, without sign-in, whose memories to show) and `/web/<asset>`."""
    document = (
        _asset("index.html")
        .replace("{auth}", access)
        .replace("{user}", html.escape(user or "", quote=True))
        .replace("{resource}", html.escape(resource, quote=True))
    )

    async def index(request: Request) -> Response:
        return HTMLResponse(document, headers=_HEADERS | {"Cache-Control": "no-store"})

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _TYPES:
            return Response("Not found", status_code=404, media_type="text/plain")
        return Response(_asset(name), media_type=_TYPES[name], headers=_HEADERS | {"Cache-Control": "no-cache"})

    return [Route("/", index, methods=["GET"]), Route("/web/{name}", asset, methods=["GET"])]
