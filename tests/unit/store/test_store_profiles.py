"""Power profiles in the store: one per (GPU model, workload key), replaced whole, listed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slurm_carbon.sensors.profiles import ProfilePoint
from slurm_carbon.store import (
    PowerProfilePointRow,
    PowerProfileRow,
    StoredProfile,
    save_profile,
    stored_profile,
    stored_profiles,
)

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
V100 = "Tesla V100-SXM2-32GB"


def profile(key: str = "resnet50", source: str = "learned", scale: float = 1.0) -> StoredProfile:
    return StoredProfile(
        gpu_model=V100,
        workload_key=key,
        source=source,
        created_at=AT,
        points=(
            ProfilePoint(150.0, 140.0 * scale, 0.8),
            ProfilePoint(250.0, 230.0 * scale, 1.0),
        ),
    )


def test_a_saved_profile_is_found_by_model_and_key(session: Session) -> None:
    save_profile(session, profile())
    assert stored_profile(session, V100, "resnet50") == profile()
    assert stored_profile(session, V100, "bert") is None
    assert stored_profile(session, "NVIDIA A40", "resnet50") is None


def test_saving_again_replaces_the_profile_and_its_points(session: Session) -> None:
    save_profile(session, profile())
    save_profile(session, profile(source="imported:v100.csv", scale=1.1))
    found = stored_profile(session, V100, "resnet50")
    assert found is not None
    assert found.source == "imported:v100.csv"
    assert [p.power_w for p in found.points] == pytest.approx([154.0, 253.0])
    assert session.scalar(select(func.count()).select_from(PowerProfileRow)) == 1
    assert session.scalar(select(func.count()).select_from(PowerProfilePointRow)) == 2


def test_profiles_are_listed_by_model_then_key(session: Session) -> None:
    save_profile(session, profile("vit"))
    save_profile(session, profile("bert"))
    assert [(p.gpu_model, p.workload_key) for p in stored_profiles(session)] == [
        (V100, "bert"),
        (V100, "vit"),
    ]


def test_an_unknown_source_is_refused_by_the_database(session: Session) -> None:
    with pytest.raises(IntegrityError, match="source_known"):
        save_profile(session, profile(source="guessed"))
