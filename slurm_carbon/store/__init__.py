"""The store: SQLAlchemy models, engines and sessions, idempotent writes, migrations.

The only package that imports SQLAlchemy. PostgreSQL in production, SQLite as
the embedded default; both behave the same (string enums with CHECK
constraints, aware UTC times, ``ON CONFLICT`` writes)::

    engine = make_engine(url)                # errors on connect -> StoreError
    with session_factory(engine)() as session, session.begin():
        node = get_or_create_node(session, cluster.id, "gpu01")
        new = add_intervals(session, intervals)  # a re-sent batch adds 0

Nodes report with bearer tokens kept as hashes (:func:`issue_token`,
:func:`node_for_token`, :func:`revoke_tokens`); a node's batch is written by
:func:`ingest_batch` inside :func:`transaction`, which turns a lost database
into :class:`~slurm_carbon.errors.StoreError`. A running job's reported
progress is read back with :func:`job_progress`. What was done to a job over its
budget is recorded once with :func:`record_budget_action` and read back with
:func:`budget_action` / :func:`budget_actions`. A GPU model's power profile for
one workload key is saved with :func:`save_profile` (replacing the one stored)
and found again with :func:`stored_profile` / :func:`stored_profiles`.

Schema changes are Alembic revisions in ``migrations/versions``, applied with
:func:`upgrade` (``slurm-carbon db upgrade``).
"""

from __future__ import annotations

from slurm_carbon.store.budgets import (
    BudgetActionRecord,
    budget_action,
    budget_actions,
    record_budget_action,
    set_budget_outcome,
)
from slurm_carbon.store.engine import (
    ingest_engine,
    make_engine,
    redact_url,
    session_factory,
    sqlite_file,
    url_has_password,
)
from slurm_carbon.store.ingest import (
    ReportedDevice,
    ReportedInterval,
    ReportedProgress,
    ingest_batch,
    ingest_progress,
    stored_node_lists,
)
from slurm_carbon.store.migrate import current_revision, downgrade, head_revision, upgrade
from slurm_carbon.store.models import (
    Base,
    BudgetActionRow,
    CarbonIntensityPoint,
    Cluster,
    CommentWrite,
    CommentWriteState,
    Device,
    EnergyInterval,
    Job,
    JobProgress,
    JobResult,
    Node,
    NodeToken,
    PowerProfilePointRow,
    PowerProfileRow,
    PueSetting,
)
from slurm_carbon.store.profiles import (
    StoredProfile,
    save_profile,
    stored_profile,
    stored_profiles,
)
from slurm_carbon.store.progress import ProgressPoint, job_progress
from slurm_carbon.store.repositories import (
    NewInterval,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.store.tokens import hash_token, issue_token, node_for_token, revoke_tokens
from slurm_carbon.store.transactions import Session, SessionFactory, ping, transaction

__all__ = [
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
]
