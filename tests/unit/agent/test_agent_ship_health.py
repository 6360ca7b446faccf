"""Each batch carries the agent's spool health: rows still waiting besides it, and dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from slurm_carbon.agent.spool import Spool
from tests.unit.agent.test_shipper import Service, fill, fill_progress, make_shipper, service

__all__ = ["service"]  # the fixture, shared


def _health(service: Service) -> list[Any]:
    return [body.get("health") for _, body in service.received]


def test_the_backlog_left_behind_each_batch_and_no_dead_letters(
    service: Service, tmp_path: Path
) -> None:
    db = tmp_path / "agent.db"
    fill(db, 2500)
    fill_progress(db, [0.1, 0.2, 0.3])
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        while shipper.ship_once() is not None:
            pass
    # 1,000 intervals a batch; the 3 progress points ride in the first.
    assert _health(service) == [
        {"spool_backlog": 1500, "dead_letters": 0},
        {"spool_backlog": 500, "dead_letters": 0},
        {"spool_backlog": 0, "dead_letters": 0},
    ]


def test_dead_letters_are_counted_in_the_next_batch(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 2)
    service.poisoned = {0.0}  # the first interval's energy
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session, batch_max=1)
        while shipper.ship_once() is not None:
            pass
    assert _health(service) == [
        {"spool_backlog": 1, "dead_letters": 0},  # refused, dead-lettered
        {"spool_backlog": 0, "dead_letters": 1},
    ]
    assert Spool(db).health() == (0, 1)


def test_a_service_too_old_for_health_gets_batches_without_it(
    service: Service, tmp_path: Path
) -> None:
    db = tmp_path / "agent.db"
    fill(db, 3)
    old: tuple[int, dict[str, str], Any] = (
        422,
        {},
        {"error": "health: Extra inputs are not permitted"},
    )
    service.script = [old]
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        while shipper.ship_once() is not None:
            pass
        fill(db, 1)
        assert shipper.ship_once() is None
    assert _health(service) == [{"spool_backlog": 0, "dead_letters": 0}, None, None]
    assert [len(body["intervals"]) for _, body in service.received] == [3, 3, 1]
    assert shipper.spool.dead_letters() == []
