"""The writer creates the coming days' partitions at each sweep (PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.site import StaticSite
from slurm_carbon.service.writer import Writer
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store.partitions import PARTITIONS_AHEAD_DAYS, day_partitions

NOW = datetime(2031, 5, 4, 23, 50, tzinfo=UTC)


class NoSeries:
    """No carbon intensity: the writer has nothing to settle here anyway."""

    name = "none"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        raise IntensityUnavailable("none")

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable("none")


def test_a_sweep_creates_the_partitions_ahead_and_a_poll_does_not(session: Session) -> None:
    connection = session.get_bind()
    assert isinstance(connection, Connection)
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    writer = Writer(factory, FakeSlurm(), StaticSite("SE"), NoSeries(), clock=lambda: NOW)

    writer.run_once(sweep=False)
    assert date(2031, 5, 4) not in day_partitions(session)
    writer.run_once(sweep=True)

    if session.get_bind().dialect.name != "postgresql":
        assert day_partitions(session) == []  # SQLite: one table
        return
    wanted = {date(2031, 5, 4) + timedelta(days=n) for n in range(PARTITIONS_AHEAD_DAYS + 1)}
    assert wanted <= set(day_partitions(session))
