"""The site configuration's schema: each section of the TOML file as a typed, frozen model.

:class:`SiteConfig` is the whole file; it answers the lookups the rest of the
package asks (a job's grid region and PUE, a node's type and unmeasured power).
Every model refuses unknown keys, so a misspelt key is never silently ignored.
Every key is documented in ``deploy/site.example.toml``.

The policy sections (``[admin_comment]``, ``[budgets]``, ``[capping]``,
``[advice]``) live in :mod:`~slurm_carbon.config.policies`; import their names
from there (or from :mod:`slurm_carbon.config`, the public face).

Secrets never live in this file: providers name the *environment variable*
that holds their token (``token_env``), and the entry point reads it.

Units: PUE dimensionless (>= 1); power in watts (``_w``); times aware UTC.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator

from slurm_carbon.accounting.pue import PueSeries
from slurm_carbon.config.base import Section
from slurm_carbon.config.policies import (
    AdminCommentPolicy,
    AdviceConfig,
    BudgetsConfig,
    CappingConfig,
)

__all__ = [
    "CI_SOURCES",
    "DEFAULT_ROLLUP_AFTER_DAYS",
    "MAX_STORAGE_DAYS",
    "MAX_TRUSTED_PROXIES",
    "MIN_RETENTION_DAYS",
    "MIN_ROLLUP_AFTER_DAYS",
    "AdminsConfig",
    "ApiConfig",
    "CounterfactualConfig",
    "IntensityConfig",
    "NodeType",
    "ProviderConfig",
    "PueConfig",
    "RegionsConfig",
    "SiteConfig",
    "StorageConfig",
    "WebConfig",
]

CI_SOURCES = ("trace", "electricitymaps", "uk", "watttime", "annual")
"""Carbon-intensity sources a site may list, by the names used in the file."""

SourceName = Literal["trace", "electricitymaps", "uk", "watttime", "annual"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _pue_value(value: Any) -> PueSeries:
    """A PUE constant or a list of ``{valid_from, value}`` tables, as a series.

    Only the TOML shapes are checked here; the values (PUE >= 1, times with an
    offset and increasing) are checked once, by :class:`PueSeries`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise ValueError(  # noqa: TRY004 - pydantic turns ValueError into its error
            "PUE must be a number >= 1 or a list of {valid_from, value} tables"
        )
    if isinstance(value, int | float):
        return PueSeries.constant(value)
    points: list[tuple[datetime, float]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"valid_from", "value"}:
            raise ValueError(f"item {index} must be a table with exactly valid_from and value")
        when, pue = item["valid_from"], item["value"]
        if not isinstance(when, datetime):
            raise ValueError(  # noqa: TRY004 - as above
                f"item {index}: valid_from must be a date-time with a UTC offset"
            )
        if isinstance(pue, bool) or not isinstance(pue, int | float):
            raise ValueError(f"item {index}: PUE must be a number >= 1, got {pue!r}")  # noqa: TRY004
        points.append((when, float(pue)))
    return PueSeries(tuple(points))


Pue = Annotated[PueSeries, BeforeValidator(_pue_value)]


class RegionsConfig(Section):
    """Which grid region a job's energy comes from.

    Attributes:
        default: The cluster's region (a provider zone code, e.g. ``"DE"``).
        partitions: Region by partition name.
        nodes: Region by node-name pattern (``fnmatch``, e.g. ``"gpu-a*"``; not a
            Slurm hostlist); the first matching pattern in file order wins.
    """

    default: str = Field(min_length=1)
    partitions: dict[str, str] = Field(default_factory=dict)
    nodes: dict[str, str] = Field(default_factory=dict)


class PueConfig(Section):
    """The PUE of the cluster and of partitions that differ.

    Attributes:
        default: The cluster's PUE: a constant or a series.
        partitions: PUE by partition name.
    """

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True
    )

    default: Pue
    partitions: dict[str, Pue] = Field(default_factory=dict)


class ProviderConfig(Section):
    """Settings of one carbon-intensity provider.

    Attributes:
        base_url: The API's base URL (None: the provider's default).
        token_env: NAME of the environment variable holding the API token.
        username_env: NAME of the environment variable holding a user name.
        password_env: NAME of the environment variable holding a password.
        path: A file the provider reads (the CSV trace).
        zones: The provider's zone code by our region code.
    """

    base_url: str | None = None
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    path: str | None = None
    zones: dict[str, str] = Field(default_factory=dict)

    @field_validator("token_env", "username_env", "password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "must be the NAME of an environment variable (e.g. SLURM_CARBON_EM_TOKEN), "
                "never the secret itself"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value


def _default_sources() -> list[SourceName]:
    return ["annual"]


class IntensityConfig(Section):
    """Where carbon intensity comes from.

    Attributes:
        sources: Sources to try, best first (names from :data:`CI_SOURCES`).
        providers: Settings by source name.
    """

    sources: list[SourceName] = Field(default_factory=_default_sources, min_length=1)
    providers: dict[SourceName, ProviderConfig] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _unique(cls, value: list[SourceName]) -> list[SourceName]:
        if len(set(value)) != len(value):
            raise ValueError("a source is listed twice")
        return value


class CounterfactualConfig(Section):
    """What-if comparisons shown in reports.

    Attributes:
        regions: Other regions to compare the job's footprint with.
        window_h: How far after the actual start to look for a cleaner start. Units: hours.
        step_min: Distance between candidate starts. Units: minutes.
    """

    regions: list[str] = Field(default_factory=list)
    window_h: float = Field(default=24.0, ge=0, le=168)
    step_min: int = Field(default=60, gt=0)


class NodeType(Section):
    """A kind of node, with the power of the parts we do not measure.

    Attributes:
        nodes: Node-name patterns (``fnmatch``) of this type.
        unmeasured_power_w: Fixed power of the unmeasured parts (fans, disks,
            NICs, mainboard), charged to the node's jobs. Units: watts.
    """

    nodes: list[str] = Field(min_length=1)
    unmeasured_power_w: float | None = Field(default=None, ge=0)


class AdminsConfig(Section):
    """Who may see every job in reports: root, and the users and groups named here.

    Attributes:
        users: User names.
        groups: Unix group names.
    """

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    def is_admin(self, user: str, groups: Iterable[str] = ()) -> bool:
        """Whether ``user`` (member of ``groups``) may see every job.

        The one access policy: root always, else a listed user or a member of a
        listed group. A site without ``[admins]`` has root as its only admin.
        """
        return user == "root" or user in self.users or not set(groups).isdisjoint(self.groups)


class ApiConfig(Section):
    """The service's read API (``/api/v1/``): how it identifies callers.

    Attributes:
        munge_socket: The socket of the munged that decodes callers' MUNGE
            credentials (absolute; None: MUNGE's default, the system munged).
        coordinators: Whether Slurm account coordinators see their accounts' jobs.
        url: Where clients (``slurm-carbon report``) reach the read API, e.g.
            ``http://carbon.example.org:8350`` (None: the report reads the database;
            ``--service-url`` and ``SLURM_CARBON_SERVICE_URL`` come first).
    """

    munge_socket: str | None = Field(default=None, pattern=r"^/")
    coordinators: bool = False
    url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")


#: Reverse proxies a site lists for single sign-on: a handful of hosts or networks;
#: 64 leaves room and keeps each request's check a short loop.
MAX_TRUSTED_PROXIES = 64


class WebConfig(Section):
    """The dashboard's single sign-on by a trusted reverse proxy (off by default).

    Attributes:
        trusted_proxies: Addresses or networks (``10.0.0.0/8``) of the reverse
            proxies whose ``user_header`` names the logged-in user; empty: none,
            the header is ignored. The proxy must set the header itself, never
            pass on a client's.
        user_header: The header such a proxy sets to the user name.
    """

    trusted_proxies: list[str] = Field(default_factory=list, max_length=MAX_TRUSTED_PROXIES)
    # An HTTP header name is a token; 64 characters is more than any proxy's.
    user_header: str = Field(default="X-Remote-User", pattern=r"^[A-Za-z0-9-]{1,64}$")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    def trusts(self, address: str | None) -> bool:
        """Whether a request's peer ``address`` is one of the trusted proxies'."""
        try:
            peer = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(peer in ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)


DEFAULT_ROLLUP_AFTER_DAYS = 30
"""The default ``rollup_after_days``: a month, by when every job's result is long settled
(a job's intervals matter until its result is written) and reports read only results."""

MIN_ROLLUP_AFTER_DAYS = 1
"""The least ``rollup_after_days``: store revision 0018's trigger guards against a re-sent
batch only rows older than a day, so ingest pays nothing for recent ones."""

MIN_RETENTION_DAYS = 31
"""The least ``retention_days``: longer than any job's run (Slurm sites rarely allow more
than 30 days) and its settling, so no interval goes before its job's result is stored."""

MAX_STORAGE_DAYS = 3660
"""The largest ``rollup_after_days`` and ``retention_days``: ten years; more is a typo."""


class StorageConfig(Section):
    """How long the energy intervals are kept, and when they are rolled up.

    ``slurm-carbon db maintain`` (run daily) applies it; jobs and their results
    are kept whatever it says.

    Attributes:
        rollup_after_days: Intervals older than this are rolled up to one row per
            job, node, device and hour, every total kept exact. Units: days.
        retention_days: Intervals older than this are dropped (on PostgreSQL, whole
            daily partitions); None: kept for ever. Units: days.
        compact_rolled_days: After a day is rolled up, its PostgreSQL partition is
            rewritten (``VACUUM FULL``) to give the deleted rows' disk back.
    """

    rollup_after_days: int = Field(
        default=DEFAULT_ROLLUP_AFTER_DAYS, ge=MIN_ROLLUP_AFTER_DAYS, le=MAX_STORAGE_DAYS
    )
    retention_days: int | None = Field(default=None, ge=MIN_RETENTION_DAYS, le=MAX_STORAGE_DAYS)
    compact_rolled_days: bool = True


class SiteConfig(Section):
    """The whole site configuration.

    Attributes:
        cluster: Slurm's ``ClusterName``.
        regions: Grid region lookup.
        pue: PUE lookup.
        intensity: Carbon-intensity sources.
        counterfactual: What-if comparisons.
        node_types: Node types by name.
        admins: Who sees every job.
        admin_comment: The AdminComment policy.
        budgets: The budgets policy.
        capping: The GPU power capping policy.
        advice: Submit-time advice.
        api: The read API.
        web: The dashboard's single sign-on.
        storage: How long intervals are kept, and when they are rolled up.
    """

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True
    )

    cluster: str = Field(min_length=1, pattern=r"^\S+$")
    regions: RegionsConfig
    pue: PueConfig
    intensity: IntensityConfig = Field(default_factory=IntensityConfig)
    counterfactual: CounterfactualConfig = Field(default_factory=CounterfactualConfig)
    node_types: dict[str, NodeType] = Field(default_factory=dict)
    admins: AdminsConfig = Field(default_factory=AdminsConfig)
    admin_comment: AdminCommentPolicy = Field(default_factory=AdminCommentPolicy)
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    capping: CappingConfig = Field(default_factory=CappingConfig)
    advice: AdviceConfig = Field(default_factory=AdviceConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    def region_for(self, partition: str | None, node: str | None) -> str:
        """The grid region of a job on ``node`` in ``partition``.

        A node pattern wins over the partition, which wins over the default.
        """
        if node is not None:
            for pattern, region in self.regions.nodes.items():
                if fnmatch.fnmatchcase(node, pattern):
                    return region
        if partition is not None and partition in self.regions.partitions:
            return self.regions.partitions[partition]
        return self.regions.default

    def pue_at(self, partition: str | None, when: datetime) -> float:
        """The PUE of ``partition`` (or the cluster's) in force at ``when``.

        A time before a series' first ``valid_from`` takes its first value.

        Raises:
            ValueError: ``when`` is naive.
        """
        if when.tzinfo is None:
            raise ValueError("pue_at needs a timezone-aware datetime")
        return self.pue_series(partition).at(when)

    def pue_series(self, partition: str | None) -> PueSeries:
        """The PUE series of ``partition`` (or the cluster's), for the accounting functions."""
        if partition is not None and partition in self.pue.partitions:
            return self.pue.partitions[partition]
        return self.pue.default

    def node_type_for(self, node: str) -> str | None:
        """The name of the first node type with a pattern matching ``node``."""
        for name, node_type in self.node_types.items():
            if any(fnmatch.fnmatchcase(node, pattern) for pattern in node_type.nodes):
                return name
        return None

    def unmeasured_power_w(self, node: str) -> float | None:
        """Fixed power of ``node``'s unmeasured parts, if configured. Units: watts."""
        name = self.node_type_for(node)
        return self.node_types[name].unmeasured_power_w if name is not None else None
