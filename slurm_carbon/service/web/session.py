"""Browser login without passwords: a MUNGE-authenticated user asks for a login link.

``POST /web/token`` (authenticated as the read API is, by MUNGE) answers
a login token: the caller's name, groups, admin flag and coordinated accounts,
an expiry :data:`LOGIN_TOKEN_TTL_S` away and a random nonce, signed with
HMAC-SHA256 by the service's secret. ``GET /web/login?token=...`` redeems it
once and sets a session cookie (HttpOnly, SameSite=Strict, signed the same
way, valid :data:`SESSION_TTL_S`). Nothing is stored but the nonces redeemed,
kept until their token has expired.

The secret is the service's (``create_app(web_secret=...)``): ``slurm-carbon
service`` draws one at start and gives it to all its workers, unless
``$SLURM_CARBON_WEB_SECRET`` sets the site's own (hex, at least
:data:`SECRET_BYTES` bytes), which replicas behind one address must share.
A drawn secret ends every session when the service restarts. A login token is
single-use in the process that redeems it: with several workers or replicas, a
link could open once in each within its few minutes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slurm_carbon.service.api import Viewer
from slurm_carbon.service.ingest import ApiError

__all__ = [
    "LOGIN_TOKEN_TTL_S",
    "MAX_TOKEN_BYTES",
    "SECRET_BYTES",
    "SESSION_COOKIE",
    "SESSION_TTL_S",
    "WebSessions",
]

# Long enough to open the printed link in a browser on the same desk; short
# enough that a link left in a terminal's scrollback soon opens nothing.
LOGIN_TOKEN_TTL_S = 300
# A working day: a dashboard left open in the morning still answers at night's
# end of shift, and a forgotten browser session does not outlive the day.
SESSION_TTL_S = 8 * 3600
# 256 bits, HMAC-SHA256's own block of key strength.
SECRET_BYTES = 32
# A token or cookie carries a user, their groups and accounts: 4 KiB is what
# browsers keep of one cookie, and more than any honest token needs.
MAX_TOKEN_BYTES = 4096
#: The session cookie's name.
SESSION_COOKIE = "slurm_carbon_session"

_LOGIN, _SESSION = "login", "session"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class WebSessions:
    """Signs and checks login tokens and session cookies, at ``clock()``.

    Attributes:
        clock: The time tokens are judged by.
        secret: The HMAC key (default: drawn now, :data:`SECRET_BYTES`).
    """

    clock: Callable[[], datetime]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(SECRET_BYTES))
    _redeemed: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def login_token(self, viewer: Viewer) -> str:
        """A single-use token that opens a session as ``viewer`` for :data:`LOGIN_TOKEN_TTL_S`."""
        return self._sign(_LOGIN, viewer, LOGIN_TOKEN_TTL_S, secrets.token_urlsafe(16))

    def session_cookie(self, viewer: Viewer) -> str:
        """The cookie's value for a session as ``viewer``, valid :data:`SESSION_TTL_S`."""
        return self._sign(_SESSION, viewer, SESSION_TTL_S, "")

    def redeem(self, token: str) -> Viewer:
        """The viewer of a login token, which opens nothing after this.

        Raises:
            ApiError: 401, the token is not one this service signed, has expired
                or was already used.
        """
        payload = self._check(token, _LOGIN)
        if payload is None:
            raise ApiError(
                401, "this login link is not valid: run `slurm-carbon web` for a new one"
            )
        now = self.clock().timestamp()
        with self._lock:
            for nonce in [n for n, until in self._redeemed.items() if until < now]:
                del self._redeemed[nonce]
            if payload["nonce"] in self._redeemed:
                raise ApiError(
                    401, "this login link was already used: run `slurm-carbon web` for a new one"
                )
            self._redeemed[payload["nonce"]] = payload["exp"]
        return _viewer(payload)

    def viewer(self, cookie: str | None) -> Viewer | None:
        """The viewer of a session cookie; None when there is none, or it is not valid now."""
        payload = None if cookie is None else self._check(cookie, _SESSION)
        return None if payload is None else _viewer(payload)

    def _sign(self, kind: str, viewer: Viewer, ttl_s: int, nonce: str) -> str:
        payload = {
            "kind": kind,
            "exp": self.clock().timestamp() + ttl_s,
            "nonce": nonce,
            "name": viewer.name,
            "groups": sorted(viewer.groups),
            "admin": viewer.admin,
            "accounts": sorted(viewer.accounts),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode("ascii"), hashlib.sha256).digest())

    def _check(self, token: str, kind: str) -> dict[str, Any] | None:
        """The payload of a token of ``kind`` signed here and not expired; None otherwise."""
        body, _, mac = token.partition(".")
        if len(token) > MAX_TOKEN_BYTES or not token.isascii() or not mac:
            return None
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("kind") != kind:
            return None
        if payload["exp"] < self.clock().timestamp():
            return None
        return payload


def _viewer(payload: dict[str, Any]) -> Viewer:
    return Viewer(
        name=payload["name"],
        groups=frozenset(payload["groups"]),
        admin=payload["admin"],
        accounts=frozenset(payload["accounts"]),
    )
