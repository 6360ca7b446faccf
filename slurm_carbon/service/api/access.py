"""Who sees what through the read API: the caller, named by MUNGE, and the jobs open to them.

A user sees their own jobs (their uid's name on the service host, :mod:`pwd`,
matched with the job's user name as Slurm stored it); the site's admins
(root, and the ``[admins]`` users and groups of the site TOML, the rule
``slurm-carbon report`` applies) see every job; where the site enables it
(``[api] coordinators = true``), a Slurm account coordinator also sees the jobs
of the accounts ``sacctmgr`` lists as theirs, when they ask for those accounts
(``accounts=``) or for such jobs by id. Asking for someone else's jobs
is 403, never an empty answer, so a user learns they asked wrong.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from slurm_carbon.config import AdminsConfig, SiteConfig
from slurm_carbon.errors import SlurmError
from slurm_carbon.service.api.munge_auth import MungeDecoder, MungeIdentity, munge_credential
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.slurm import SlurmClient
from slurm_carbon.store import Session
from slurm_carbon.store.reports import ReportQuery, iter_jobs
from slurm_carbon.text import escape_control

__all__ = [
    "NameLookup",
    "ReadAccess",
    "UserLookup",
    "Viewer",
    "restrict_query",
    "system_identity",
    "system_user",
]

logger = logging.getLogger(__name__)

# How many foreign job ids a refusal names (the rest: "...").
_NAMED_JOBS = 5

UserLookup = Callable[[MungeIdentity], tuple[str, frozenset[str]] | None]
"""The user name and group names of a uid and gid; None: the uid has no name here."""

NameLookup = Callable[[str], MungeIdentity | None]
"""The uid and gid of a user name; None: no such user here."""


def system_identity(name: str) -> MungeIdentity | None:
    """The uid and primary gid of ``name``, from pwd."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return MungeIdentity(entry.pw_uid, entry.pw_gid)


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
    """An authenticated caller: user name, groups, whether they see every job.

    Attributes:
        name: The user name.
        groups: Their Unix groups.
        admin: Whether they see every job.
        accounts: The Slurm accounts whose jobs they see as a coordinator.
    """

    name: str
    groups: frozenset[str] = frozenset()
    admin: bool = False
    accounts: frozenset[str] = frozenset()

    def sees(self, user: str | None, account: str | None) -> bool:
        """Whether a job of ``user`` under ``account`` is open to this viewer."""
        return self.admin or user == self.name or (account is not None and account in self.accounts)

    def refusal(self) -> str:
        """The start of a 403's sentence: what this viewer may see."""
        mine = f"{self.name} may only see their own jobs"
        if not self.accounts:
            return mine
        return f"{mine} and those of account {', '.join(sorted(self.accounts))}"


@dataclass(frozen=True)
class ReadAccess:
    """How callers of the read API are identified and judged.

    Attributes:
        site: The site configuration: its ``[admins]`` see every job, its regions
            and PUE are what figures are computed with (None: root is the only
            admin, and the stored results' regions and PUE are used).
        decoder: Decodes MUNGE credentials.
        users: Names a uid (tests inject their own).
        names: Finds a user name's uid, for a name a trusted proxy vouches for.
        coordinators: Where the accounts a user coordinates are read from (the
            site's ``[api] coordinators = true``); None: coordinators see their
            own jobs only.
    """

    site: SiteConfig | None = None
    decoder: MungeDecoder = field(default_factory=MungeDecoder)
    users: UserLookup = field(default=system_user)
    names: NameLookup = field(default=system_identity)
    coordinators: SlurmClient | None = None

    @classmethod
    def for_site(cls, site: SiteConfig, slurm: SlurmClient) -> ReadAccess:
        """Callers judged as ``site`` says, coordinators read through ``slurm``.

        The site's admins, its munged (``[api] munge_socket``), system user
        names, and coordinators if ``[api] coordinators`` is on.
        """
        socket = site.api.munge_socket
        return cls(
            site=site,
            decoder=MungeDecoder(socket=None if socket is None else Path(socket)),
            coordinators=slurm if site.api.coordinators else None,
        )

    async def viewer(self, request: Request) -> Viewer:
        """The request's caller, or 401 (no or a bad credential) / 403 (a uid without a name)."""
        credential = munge_credential(request)
        identity = await run_in_threadpool(self.decoder.decode, credential)
        return await self._judge(identity)

    async def viewer_named(self, name: str) -> Viewer:
        """The user ``name`` as a trusted proxy vouches for them, or 403 (no such user here)."""
        identity = self.names(name)
        if identity is None:
            raise ApiError(403, f"{name} has no account on the service's host")
        return await self._judge(identity)

    async def _judge(self, identity: MungeIdentity) -> Viewer:
        """The viewer a uid is: their name, groups, admin flag and coordinated accounts."""
        found = self.users(identity)
        if found is None:
            raise ApiError(403, f"uid {identity.uid} has no user name on the service's host")
        name, groups = found
        admins = self.site.admins if self.site is not None else AdminsConfig()
        if admins.is_admin(name, groups):
            return Viewer(name, groups, admin=True)
        if self.coordinators is None:
            return Viewer(name, groups)
        try:
            accounts = await run_in_threadpool(self.coordinators.coordinated_accounts, name)
        except SlurmError as err:
            logger.warning(
                "cannot read %s's coordinated accounts: %s", name, escape_control(str(err))
            )
            raise ApiError(
                503, "cannot ask Slurm which accounts you coordinate, retry later"
            ) from None
        return Viewer(name, groups, accounts=frozenset(accounts))


def restrict_query(session: Session, query: ReportQuery, viewer: Viewer) -> ReportQuery:
    """``query`` as ``viewer`` may run it: an admin's unchanged, anyone else's limited to theirs.

    A query naming only accounts the viewer coordinates runs as asked; one naming
    job ids runs as asked once every job they select is the viewer's to see; any
    other is limited to the viewer's own jobs.

    Raises:
        ApiError: 403, the query names another user, or a job the viewer may not see.
    """
    if viewer.admin:
        return query
    coordinated = bool(query.accounts) and viewer.accounts.issuperset(query.accounts)
    others = sorted(set(query.users) - {viewer.name})
    if others and not coordinated:
        raise ApiError(403, f"{viewer.refusal()}, not those of {', '.join(others)}")
    if query.jobs:
        hidden = [
            row.job_id_text
            for row in iter_jobs(session, ReportQuery(jobs=query.jobs))
            if not viewer.sees(row.user_name, row.account)
        ]
        if hidden:
            named = ", ".join(hidden[:_NAMED_JOBS]) + (" ..." if len(hidden) > _NAMED_JOBS else "")
            raise ApiError(403, f"{viewer.refusal()}, and job {named} is not among them")
    if coordinated or query.jobs:
        return query
    return replace(query, users=(viewer.name,))
