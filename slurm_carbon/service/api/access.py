"""Who sees what through the read API: the caller, named by MUNGE, and the jobs open to them.

A user sees their own jobs (their uid's name on the service host, :mod:`pwd`,
matched with the job's user name as Slurm stored it); the site's admins
(root, and the ``[admins]`` users and groups of the site TOML, the rule
``slurm-carbon report`` applies) see every job. Asking for someone else's jobs
is 403, never an empty answer, so a user learns they asked wrong.
"""

from __future__ import annotations

import contextlib
import grp
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from slurm_carbon.config import AdminsConfig, SiteConfig
from slurm_carbon.service.api.munge_auth import MungeDecoder, MungeIdentity, munge_credential
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.store import Session
from slurm_carbon.store.reports import ReportQuery, foreign_jobs

__all__ = ["ReadAccess", "UserLookup", "Viewer", "restrict_query", "system_user"]

# How many foreign job ids a refusal names (the rest: "...").
_NAMED_JOBS = 5

UserLookup = Callable[[MungeIdentity], tuple[str, frozenset[str]] | None]
"""The user name and group names of a uid and gid; None: the uid has no name here."""


def system_user(identity: MungeIdentity) -> tuple[str, frozenset[str]] | None:
    """The uid's name and groups (the credential's gid's, and supplementary) from pwd and grp."""
    try:
        name = pwd.getpwuid(identity.uid).pw_name
    except KeyError:
        return None
    groups = {group.gr_name for group in grp.getgrall() if name in group.gr_mem}
    with contextlib.suppress(KeyError):
        groups.add(grp.getgrgid(identity.gid).gr_name)
    return name, frozenset(groups)


@dataclass(frozen=True)
class Viewer:
    """An authenticated caller: user name, groups, and whether they see every job."""

    name: str
    groups: frozenset[str] = frozenset()
    admin: bool = False


@dataclass(frozen=True)
class ReadAccess:
    """How callers of the read API are identified and judged.

    Attributes:
        site: The site configuration: its ``[admins]`` see every job, its regions
            and PUE are what figures are computed with (None: root is the only
            admin, and the stored results' regions and PUE are used).
        decoder: Decodes MUNGE credentials.
        users: Names a uid (tests inject their own).
    """

    site: SiteConfig | None = None
    decoder: MungeDecoder = field(default_factory=MungeDecoder)
    users: UserLookup = field(default=system_user)

    @classmethod
    def for_site(cls, site: SiteConfig) -> ReadAccess:
        """The site's admins, its munged (``[api] munge_socket``), system user names."""
        socket = site.api.munge_socket
        return cls(site=site, decoder=MungeDecoder(socket=None if socket is None else Path(socket)))

    async def viewer(self, request: Request) -> Viewer:
        """The request's caller, or 401 (no or a bad credential) / 403 (a uid without a name)."""
        credential = munge_credential(request)
        identity = await run_in_threadpool(self.decoder.decode, credential)
        found = self.users(identity)
        if found is None:
            raise ApiError(403, f"uid {identity.uid} has no user name on the service's host")
        name, groups = found
        admins = self.site.admins if self.site is not None else AdminsConfig()
        return Viewer(name, groups, admin=admins.is_admin(name, groups))


def restrict_query(session: Session, query: ReportQuery, viewer: Viewer) -> ReportQuery:
    """``query`` as ``viewer`` may run it: an admin's unchanged, a user's to their own jobs.

    Raises:
        ApiError: 403, the query names another user or a job of someone else.
    """
    if viewer.admin:
        return query
    others = sorted(set(query.users) - {viewer.name})
    if others:
        raise ApiError(
            403,
            f"{viewer.name} may only see their own jobs, not those of {', '.join(others)}",
        )
    foreign = foreign_jobs(session, query.jobs, viewer.name)
    if foreign:
        named = ", ".join(foreign[:_NAMED_JOBS]) + (" ..." if len(foreign) > _NAMED_JOBS else "")
        raise ApiError(
            403, f"{viewer.name} may only see their own jobs, and job {named} is not theirs"
        )
    return replace(query, users=(viewer.name,))
