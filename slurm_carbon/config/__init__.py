"""The site configuration: one TOML file, typed and checked when it is loaded.

Read it in entry points with :func:`load_config`; nothing is read at import
time. Every key is documented in ``deploy/site.example.toml``. A mistake
raises :class:`~slurm_carbon.errors.ConfigError` with one line naming the
file, the key's dotted path and the problem, e.g.
``site.toml: pue.partitions.gpu: PUE must be a number >= 1, got 0.9``.
Unknown keys are refused, so a misspelt key is never silently ignored.

Secrets never live in this file: providers name the *environment variable*
that holds their token (``token_env``), and the entry point reads it.

Three modules: :mod:`~slurm_carbon.config.site`, the schema (each section as a
typed model, and :class:`SiteConfig`'s lookups);
:mod:`~slurm_carbon.config.policies`, the policy sections' models (what the
service does: admin comment, budgets, capping, advice); and
:mod:`~slurm_carbon.config.load`, reading the file and turning a validation
error into that one line. Import from here: this is the public face.

Units: PUE dimensionless (>= 1); power in watts (``_w``); times aware UTC.
"""

from __future__ import annotations

from slurm_carbon.config.load import CONFIG_MAX_BYTES, load_config, parse_config
from slurm_carbon.config.policies import AdminCommentPolicy, BudgetsConfig
from slurm_carbon.config.site import (
    CI_SOURCES,
    AdminsConfig,
    CounterfactualConfig,
    IntensityConfig,
    NodeType,
    ProviderConfig,
    PueConfig,
    RegionsConfig,
    SiteConfig,
)

__all__ = [
    "CI_SOURCES",
    "CONFIG_MAX_BYTES",
    "AdminCommentPolicy",
    "AdminsConfig",
    "BudgetsConfig",
    "CounterfactualConfig",
    "IntensityConfig",
    "NodeType",
    "ProviderConfig",
    "PueConfig",
    "RegionsConfig",
    "SiteConfig",
    "load_config",
    "parse_config",
]
