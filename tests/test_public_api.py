"""The public face of each package of slurm_carbon: its ``__all__``, pinned.

A change here is a change of the API: look at it, then update the list (``None``: the
package names no public face yet).
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import slurm_carbon

PUBLIC: dict[str, list[str] | None] = {
    "slurm_carbon": ["__version__", "progress"],
    "slurm_carbon.accounting": [
        "AlignedPart",
        "CiTimeline",
        "Counterfactual",
        "EnergyCard",
        "EnergySpan",
        "Equivalent",
        "Footprint",
        "JobCoverage",
        "NodeCoverage",
        "NodeSpan",
        "PueLike",
        "PueSeries",
        "Quality",
        "align",
        "best_timeline",
        "cleanest_start",
        "comment_payload",
        "energy_card",
        "equivalents",
        "footprint",
        "in_region",
        "node_coverage",
        "pue_function",
        "shifted",
    ],
    "slurm_carbon.agent": ["Agent", "AgentConfig"],
    "slurm_carbon.cli": None,
    "slurm_carbon.config": [
        "AdminCommentPolicy",
        "AdminsConfig",
        "BudgetsConfig",
        "CI_SOURCES",
        "CONFIG_MAX_BYTES",
        "CounterfactualConfig",
        "IntensityConfig",
        "NodeType",
        "ProviderConfig",
        "PueConfig",
        "RegionsConfig",
        "SiteConfig",
        "load_config",
        "parse_config",
    ],
    "slurm_carbon.control": [
        "ControlReplay",
        "DEFAULT_MAX_SLOWDOWN",
        "HullSaving",
        "LimitGrid",
        "Observation",
        "POLICIES",
        "Profiler",
        "ReplaySetup",
        "SavingSpan",
        "chase_index",
        "clamp_limit",
        "hull_at",
        "hull_saving",
        "lower_hull",
        "none_index",
        "plan_carbon",
        "replay_jobs",
        "static_index",
        "workload_key",
    ],
    "slurm_carbon.forecast": [
        "Backtest",
        "CapChange",
        "CarbonForecast",
        "DEFAULT_METHOD",
        "EnergyForecast",
        "METHODS",
        "MeasuredPeriod",
        "backtest",
        "baseline_remaining_j",
        "forecast",
        "forecast_remaining",
        "history_steps",
        "remaining_co2e",
    ],
    "slurm_carbon.intensity": None,
    "slurm_carbon.sensors": None,
    "slurm_carbon.service": ["MAX_BODY_BYTES", "MAX_INTERVALS", "create_app"],
    "slurm_carbon.service.api": [
        "DEFAULT_PAGE_LIMIT",
        "MAX_CREDENTIAL_BYTES",
        "MAX_PAGE_LIMIT",
        "MungeDecoder",
        "MungeIdentity",
        "ReadAccess",
        "UNMUNGE_TIMEOUT_S",
        "Viewer",
        "read_routes",
    ],
    "slurm_carbon.service.web": [
        "LOGIN_TOKEN_TTL_S",
        "SESSION_TTL_S",
        "WebSessions",
        "web_routes",
    ],
    "slurm_carbon.slurm": [
        "CommandLineSlurm",
        "CommandResult",
        "CommandRunner",
        "JobQuery",
        "RecordedRunner",
        "SlurmClient",
        "SlurmJob",
        "SubprocessRunner",
        "TERMINAL_STATES",
    ],
    "slurm_carbon.store": [
        "Base",
        "BudgetActionRecord",
        "BudgetActionRow",
        "CarbonIntensityPoint",
        "Cluster",
        "CommentWrite",
        "CommentWriteState",
        "Device",
        "EnergyInterval",
        "Job",
        "JobProgress",
        "JobResult",
        "NewInterval",
        "Node",
        "NodeToken",
        "PowerProfilePointRow",
        "PowerProfileRow",
        "ProgressPoint",
        "PueSetting",
        "ReportedDevice",
        "ReportedInterval",
        "ReportedProgress",
        "Session",
        "SessionFactory",
        "StoredProfile",
        "add_intervals",
        "budget_action",
        "budget_actions",
        "current_revision",
        "downgrade",
        "get_or_create_cluster",
        "get_or_create_device",
        "get_or_create_node",
        "hash_token",
        "head_revision",
        "ingest_batch",
        "ingest_engine",
        "ingest_progress",
        "issue_token",
        "job_progress",
        "make_engine",
        "node_for_token",
        "ping",
        "record_budget_action",
        "redact_url",
        "revoke_tokens",
        "save_profile",
        "session_factory",
        "set_budget_outcome",
        "sqlite_file",
        "stored_node_lists",
        "stored_profile",
        "stored_profiles",
        "transaction",
        "upgrade",
        "upsert_job",
        "url_has_password",
    ],
    "slurm_carbon.store.reports": [
        "GroupBy",
        "GroupTotals",
        "JobRow",
        "JobSelector",
        "ReportQuery",
        "TimelinePoint",
        "foreign_jobs",
        "iter_jobs",
        "job_timeline",
        "totals",
    ],
}


def test_every_package_is_pinned() -> None:
    found = [
        m.name for m in pkgutil.walk_packages(slurm_carbon.__path__, "slurm_carbon.") if m.ispkg
    ]

    assert sorted(["slurm_carbon", *found]) == sorted(PUBLIC)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_the_public_face_is_what_is_pinned(package: str) -> None:
    module = importlib.import_module(package)
    public = getattr(module, "__all__", None)

    assert (sorted(public) if public is not None else None) == PUBLIC[package]
    assert [name for name in public or () if not hasattr(module, name)] == []
