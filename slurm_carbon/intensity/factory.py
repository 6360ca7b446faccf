"""Providers built from the site configuration's ``[intensity]`` table.

Secrets are not read here: the entry point passes the environment (or any
mapping) in which ``token_env``/``username_env``/``password_env`` are looked up::

    chain = build_chain(site.intensity, os.environ, requests.Session(),
                        trace_region=site.regions.default)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import requests

from slurm_carbon.config import IntensityConfig, ProviderConfig
from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint, IntensityProvider
from slurm_carbon.intensity.chain import ProviderChain
from slurm_carbon.intensity.electricitymaps import DEFAULT_BASE_URL as EM_URL
from slurm_carbon.intensity.electricitymaps import ElectricityMaps
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.intensity.http import HttpPolicy
from slurm_carbon.intensity.trace import TraceProvider
from slurm_carbon.intensity.ukgrid import DEFAULT_BASE_URL as UK_URL
from slurm_carbon.intensity.ukgrid import UkCarbonIntensity
from slurm_carbon.intensity.watttime import DEFAULT_BASE_URL as WT_URL
from slurm_carbon.intensity.watttime import WattTime

__all__ = ["ZoneMapped", "build_chain", "build_provider"]


class ZoneMapped:
    """A provider asked in its own zone codes, answering in ours.

    ``zones`` maps our region code to the provider's (``{"SE": "SE-SE3"}``); a
    region not in it is passed unchanged. Points come back labelled with our code.
    """

    def __init__(self, inner: IntensityProvider, zones: Mapping[str, str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.zones = dict(zones)

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """The inner provider's history of ``region``'s zone."""
        return self._ours(region, self.inner.history(self.zones.get(region, region), start, end))

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """The inner provider's forecast of ``region``'s zone."""
        zone = self.zones.get(region, region)
        return self._ours(region, self.inner.forecast(zone, start, hours))

    @staticmethod
    def _ours(region: str, points: Sequence[CiPoint]) -> list[CiPoint]:
        return [dataclasses.replace(point, region=region) for point in points]


def _secret(env: Mapping[str, str], name: str | None, source: str, key: str) -> str:
    if name is None:
        raise ConfigError(f"intensity.providers.{source}.{key}: required for source {source!r}")
    value = env.get(name, "")
    if not value:
        raise ConfigError(
            f"intensity.providers.{source}.{key}: environment variable {name} is not set"
        )
    return value


def build_provider(  # noqa: PLR0913 (one source's settings and the injected world)
    source: str,
    settings: ProviderConfig,
    env: Mapping[str, str],
    session: requests.Session,
    *,
    trace_region: str,
    policy: HttpPolicy | None = None,
) -> IntensityProvider:
    """One configured provider, wrapped in its zone mapping.

    Raises:
        ConfigError: a needed secret, path or setting is missing, or the trace is bad.
    """
    provider: IntensityProvider
    if source == "electricitymaps":
        token = _secret(env, settings.token_env, source, "token_env")
        provider = ElectricityMaps(
            token, session, base_url=settings.base_url or EM_URL, policy=policy
        )
    elif source == "uk":
        provider = UkCarbonIntensity(session, base_url=settings.base_url or UK_URL, policy=policy)
    elif source == "watttime":
        user = _secret(env, settings.username_env, source, "username_env")
        password = _secret(env, settings.password_env, source, "password_env")
        provider = WattTime(
            user, password, session, base_url=settings.base_url or WT_URL, policy=policy
        )
    elif source == "trace":
        if settings.path is None:
            raise ConfigError("intensity.providers.trace.path: required for source 'trace'")
        return TraceProvider.from_file(Path(settings.path), region=trace_region, source="trace")
    else:
        raise ConfigError(f"intensity.sources: unknown source {source!r}")
    return ZoneMapped(provider, settings.zones)


def build_chain(  # noqa: PLR0913 (the config and the injected world)
    config: IntensityConfig,
    env: Mapping[str, str],
    session: requests.Session,
    *,
    trace_region: str,
    annual: EmbeddedAnnual | None = None,
    policy: HttpPolicy | None = None,
) -> ProviderChain:
    """The configured sources in order, the embedded annual table last (wherever listed).

    Raises:
        ConfigError: a source cannot be set up (the message names the key).
    """
    providers = [
        build_provider(
            source,
            config.providers.get(source, ProviderConfig()),
            env,
            session,
            trace_region=trace_region,
            policy=policy,
        )
        for source in config.sources
        if source != "annual"
    ]
    return ProviderChain(providers, annual=annual)
