"""HTTP exposure rules: loopback by default, a bearer token for anything else, Host/Origin checks.

- ``check_bind``: binding to a non-loopback address without a token is refused before the server
  starts (the market data is not secret, but the tools can start collectors and write files).
- ``transport_security``: the SDK's DNS-rebinding protection with an explicit list of accepted
  ``Host`` and ``Origin`` headers (loopback names, the bind address, names given with
  ``--allow-host``), so a web page on another origin cannot drive the server through the browser.
- ``BearerAuth``: ASGI middleware requiring ``Authorization: Bearer <token>`` on every request,
  compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Iterable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from cryptoflow.errors import ConfigError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a bearer token, and tokens too short to resist guessing."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"--token must be at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 24`)")
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host}: binding beyond loopback needs a bearer token (--token or "
            "CRYPTOFLOW_TOKEN); clients then send 'Authorization: Bearer <token>'. Or bind 127.0.0.1 (the default)"
        )


def _host_header(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def transport_security(host: str, extra_hosts: Iterable[str] = ()) -> TransportSecuritySettings:
    """Accepted Host/Origin headers: loopback names, the bind address (unless a wildcard), the machine's
    host name when bound to a wildcard, and ``extra_hosts``."""
    names = list(LOOPBACK_NAMES)
    if host not in ("0.0.0.0", "::", ""):
        names.append(host)
    else:
        names += [socket.gethostname(), socket.getfqdn()]
    names += list(extra_hosts)
    hosts, origins = [], []
    for n in dict.fromkeys(names):
        h = _host_header(n)
        hosts += [h, f"{h}:*"]
        origins += [f"http://{h}:*", f"https://{h}:*", f"http://{h}", f"https://{h}"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


class BearerAuth:
    """Require ``Authorization: Bearer <token>`` on HTTP requests (401 with WWW-Authenticate otherwise)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "detail": "send Authorization: Bearer <token>"}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="cryptoflow"'),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
