"""Power profiles in the store: one per (GPU model, workload key), replaced as a whole.

A profile learned online (``slurm_carbon.control.profiling``) or imported from a
file (``slurm-carbon profile import``) is saved with :func:`save_profile`,
which replaces any profile stored for the same GPU model and workload key, its
points with it; :func:`stored_profile` finds the one a new job of that kind
reuses, :func:`stored_profiles` lists them all. Everything runs in the
caller's transaction. Units: watts (``limit_w``, ``power_w``); throughput in
the job's work per second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from slurm_carbon.sensors.profiles import ProfilePoint
from slurm_carbon.store.models import PowerProfilePointRow, PowerProfileRow
from slurm_carbon.store.repositories import _insert

__all__ = ["StoredProfile", "save_profile", "stored_profile", "stored_profiles"]


@dataclass(frozen=True)
class StoredProfile:
    """A GPU model's power profile for one workload key, as stored.

    Attributes:
        gpu_model: The GPU model, as its sensor names it (e.g. ``Tesla V100-SXM2-32GB``).
        workload_key: The job name, or the comment's ``carbon_profile=NAME``.
        source: ``learned``, or ``imported:<file name>``.
        created_at: When it was saved (aware UTC).
        points: One per power limit, sorted by limit.
    """

    gpu_model: str
    workload_key: str
    source: str
    created_at: datetime
    points: tuple[ProfilePoint, ...]


def save_profile(session: Session, profile: StoredProfile) -> None:
    """Store ``profile``, replacing (with its points) any of the same GPU model and key.

    One ``INSERT ... ON CONFLICT DO UPDATE`` on the unique key, so two service
    replicas saving the same profile at once leave one (the later).
    """
    values = {
        "gpu_model": profile.gpu_model,
        "workload_key": profile.workload_key,
        "source": profile.source,
        "created_at": profile.created_at,
    }
    insert = _insert(session, PowerProfileRow).values(values)
    profile_id = session.execute(
        insert.on_conflict_do_update(
            index_elements=["gpu_model", "workload_key"],
            set_={"source": insert.excluded.source, "created_at": insert.excluded.created_at},
        ).returning(PowerProfileRow.id)
    ).scalar_one()
    session.execute(
        delete(PowerProfilePointRow).where(PowerProfilePointRow.profile_id == profile_id)
    )
    session.add_all(
        PowerProfilePointRow(
            profile_id=profile_id, limit_w=p.limit_w, power_w=p.power_w, throughput=p.throughput
        )
        for p in profile.points
    )
    session.flush()


def stored_profile(session: Session, gpu_model: str, workload_key: str) -> StoredProfile | None:
    """The profile stored for ``gpu_model`` and ``workload_key``, if any."""
    found = _profiles(
        session,
        (PowerProfileRow.gpu_model == gpu_model) & (PowerProfileRow.workload_key == workload_key),
    )
    return found[0] if found else None


def stored_profiles(session: Session) -> list[StoredProfile]:
    """Every stored profile, by GPU model then workload key."""
    return _profiles(session, None)


def _profiles(session: Session, where: ColumnElement[bool] | None) -> list[StoredProfile]:
    query = select(PowerProfileRow).order_by(
        PowerProfileRow.gpu_model, PowerProfileRow.workload_key
    )
    if where is not None:
        query = query.where(where)
    rows = session.execute(query).scalars().all()
    points: dict[int, list[ProfilePoint]] = {row.id: [] for row in rows}
    if points:
        for point in session.execute(
            select(PowerProfilePointRow)
            .where(PowerProfilePointRow.profile_id.in_(points))
            .order_by(PowerProfilePointRow.limit_w)
        ).scalars():
            points[point.profile_id].append(
                ProfilePoint(point.limit_w, point.power_w, point.throughput)
            )
    return [
        StoredProfile(
            row.gpu_model, row.workload_key, row.source, row.created_at, tuple(points[row.id])
        )
        for row in rows
    ]
