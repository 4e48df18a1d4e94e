"""The built-in web client's files, served with headers that keep user data inert.

The files are package data (plain ES modules and CSS, no build step), read once.
The Content-Security-Policy allows scripts, styles and connections from the
page's own origin only: no inline script, no third-party requests, so even a
bug that let user text into the DOM as markup could not run anything.
"""

from __future__ import annotations

import email.utils
import functools
import http
from importlib import resources

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' {ws}; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@functools.cache
def files() -> dict[str, bytes]:
    """Path ("/app.js") -> contents of every file of the client."""
    out: dict[str, bytes] = {}
    root = resources.files("ircpsyc.web") / "static"
    for entry in root.iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            out["/" + entry.name] = entry.read_bytes()
    out["/"] = out.get("/index.html", b"")
    return out


def _headers(content_type: str, length: int) -> Headers:
    return Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(length)),
            ("Content-Type", content_type),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            # The client is small and changes with the server: always revalidate.
            ("Cache-Control", "no-cache"),
        ]
    )


def plain(status: http.HTTPStatus, text: str) -> Response:
    body = text.encode()
    return Response(
        status.value, status.phrase, _headers("text/plain; charset=utf-8", len(body)), body
    )


def respond(request: Request, client: bool, secure: bool) -> Response:
    """The answer to a plain HTTP request (not a WebSocket upgrade) on a web listener."""
    if not client:
        response = plain(
            http.HTTPStatus.UPGRADE_REQUIRED, "This address takes IRC over WebSocket only.\n"
        )
        response.headers["Upgrade"] = "websocket"
        return response
    method = getattr(request, "method", "GET")
    if method not in ("GET", "HEAD"):
        response = plain(http.HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed.\n")
        response.headers["Allow"] = "GET, HEAD"
        return response
    path = request.path.partition("?")[0].partition("#")[0]
    body = files().get(path)
    if body is None:
        return plain(http.HTTPStatus.NOT_FOUND, "Not found.\n")
    name = "/index.html" if path == "/" else path
    content_type = CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    headers = _headers(content_type, len(body))
    if content_type.startswith("text/html"):
        host = request.headers.get("Host", "")
        # 'self' covers ws: and wss: of the same host in current browsers; name them too
        # for the others. The Host header only shapes this requester's own policy.
        ws = f"{'wss' if secure else 'ws'}://{host}" if host and " " not in host else ""
        headers["Content-Security-Policy"] = CSP.format(ws=ws).replace("  ", " ")
    return Response(200, "OK", headers, b"" if method == "HEAD" else body)
