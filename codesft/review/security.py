"""Request checks and response headers for the review app.

- Loopback bind (the default): the Host header must name a loopback address, so a web page on another
  origin cannot reach the app through DNS rebinding.
- Any other bind: a token (printed at start-up) is required on every request: `Authorization: Bearer`,
  the `codesft_review_token` cookie, or `?token=` once (answered with the cookie and a redirect).
- POST (and every other unsafe method): refused when the browser says the request is cross-site
  (`Sec-Fetch-Site`) or the `Origin` is not this server, and only `application/json` bodies are taken:
  an HTML form on another site cannot send that content type without a CORS preflight, which this app
  never grants.
- Every response carries a Content-Security-Policy that allows only the app's own script and style files:
  even text that escaped escaping could not run inline script or call out.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

TOKEN_COOKIE = "codesft_review_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "")
    return urlsplit(f"//{host}").hostname or ""


def _token_ok(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    candidates = [given[7:] if given.lower().startswith("bearer ") else "", request.cookies.get(TOKEN_COOKIE, "")]
    return any(c and secrets.compare_digest(c, token) for c in candidates)


def _cross_site(request: Request) -> str | None:
    """Why an unsafe request is refused, or None when it comes from this app's own pages."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            return f"cross-site request refused (Origin {origin} is not {own})"
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        return "send the body as JSON (Content-Type: application/json)"
    return None


def guard(token: str | None, loopback_only: bool) -> Callable[[Request, Callable], Awaitable[Response]]:
    """The HTTP middleware that applies the checks above."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await _check(request, call_next)
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _check(request: Request, call_next) -> Response:
        if loopback_only and not is_loopback(_host_name(request)):
            return _error(400, f"unexpected Host header {request.headers.get('host', '')!r}: this server answers "
                               "only to loopback names")
        if token is not None and not _token_ok(request, token):
            query = request.query_params.get("token")
            if request.method == "GET" and query and secrets.compare_digest(query, token):
                rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return response
            return _error(401, "missing or wrong token: open the URL printed at start-up, or send "
                               "'Authorization: Bearer <token>'")
        if request.method not in SAFE_METHODS:
            why = _cross_site(request)
            if why is not None:
                return _error(415 if why.startswith("send the body") else 403, why)
        return await call_next(request)

    return middleware
