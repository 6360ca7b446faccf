"""Single sign-on by a trusted reverse proxy (site TOML ``[web]``).

A request whose peer address is one of ``trusted_proxies`` and that carries
``user_header`` is from that user, as the proxy vouches: the dashboard opens a
session for them (the cookie a login link would set). From any other address
the header is ignored, never trusted. A name that is not a plain user name is
refused (401), so a proxy that passes on a client's header, or a realm's
principal, opens nothing.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from slurm_carbon.config.site import WebConfig
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.text import quote_input

__all__ = ["MAX_USER_NAME_CHARS", "proxy_user"]

#: Linux's limit on a login name (LOGIN_NAME_MAX less the terminating byte is larger,
#: but useradd and Slurm's own user names stop at 32).
MAX_USER_NAME_CHARS = 32
# POSIX's portable user names (letters, digits, '.', '_', '-', not '-' first),
# with the trailing '$' of Samba machine accounts.
_USER_NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_USER_NAME_CHARS - 1}}}\$?")


def proxy_user(request: Request, web: WebConfig) -> str | None:
    """The user a trusted proxy names; None: not from a trusted proxy, or no header.

    Raises:
        ApiError: 401, the header does not hold a user name.
    """
    name = request.headers.get(web.user_header)
    if name is None or request.client is None or not web.trusts(request.client.host):
        return None
    if _USER_NAME.fullmatch(name) is None or len(name) > MAX_USER_NAME_CHARS:
        raise ApiError(401, f"the proxy's {web.user_header} {quote_input(name)} is not a user name")
    return name
