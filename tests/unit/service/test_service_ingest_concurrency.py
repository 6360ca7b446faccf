"""POST /api/v1/intervals under concurrency: admission control and re-sent batches.

429 beyond the in-flight bound, 503 when the database is busy, and a batch sent
again (after its answer, or while the first is still being processed, as an
agent does after a timeout) leaves every job's energy and CO2e as one sending does.

Real concurrency: these tests run requests from threads against an app over a
database of their own (SQLite file or PostgreSQL), not the rolled-back session.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

import slurm_carbon.service.ingest as ingest_module
from slurm_carbon.service import create_app
from slurm_carbon.service.admission import DrainPacer
from slurm_carbon.service.ingest import INGEST_RETRY_AFTER_MAX_S, IngestEndpoint
from slurm_carbon.service.results import compute_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.store import (
    ingest_batch,
    issue_token,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from slurm_carbon.store.results import find_job, job_intervals, jobs_on_node_slots, save_result
from slurm_carbon.units import J_PER_KWH
from tests.builders import slurm_job
from tests.unit.service.conftest import CLUSTER, NODE, NOW, interval
from tests.unit.service.test_results_coverage import Flat

#: Long enough for a request to be seen waiting, short enough for a quick test.
HOLD_S = 0.3


@pytest.fixture
def store(empty_db: Callable[[str], str]) -> tuple[str, str]:
    """A migrated database of its own and a token of node ``vm``: (url, token)."""
    url = empty_db("admission")
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        token = issue_token(session, CLUSTER, NODE)
    engine.dispose()
    return url, token


def _body(minute: int = 0) -> dict[str, Any]:
    return {"cluster": CLUSTER, "node": NODE, "intervals": [interval(minute)]}


def _post(client: TestClient, token: str, minute: int = 0) -> Any:
    """POST minute ``minute``'s batch: ``len(json.dumps(_body(minute)))`` bytes, declared."""
    return client.post(
        "/api/v1/intervals",
        content=json.dumps(_body(minute)),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _retry_after(response: Any) -> int:
    value = int(response.headers["Retry-After"])
    assert 1 <= value <= INGEST_RETRY_AFTER_MAX_S
    return value


def _held_endpoint(
    store: tuple[str, str], monkeypatch: pytest.MonkeyPatch, **fields: Any
) -> tuple[Starlette, threading.Event, threading.Event, Callable[[], None]]:
    """An app of ``IngestEndpoint(**fields)``, its first batch held in its parse until ``release``.

    Returns the app, ``entered`` (set once a batch is held), ``release`` and a
    function disposing of its engine.
    """
    engine = make_engine(store[0])
    endpoint = IngestEndpoint(session_factory(engine), lambda: NOW, **fields)
    app = Starlette(routes=[Route("/api/v1/intervals", endpoint.handle, methods=["POST"])])
    release, entered = threading.Event(), threading.Event()
    real_parse = ingest_module._parse

    def held_parse(body: bytes, now: datetime) -> Any:
        entered.set()
        release.wait(10)
        return real_parse(body, now)

    monkeypatch.setattr("slurm_carbon.service.ingest._parse", held_parse)
    return app, entered, release, engine.dispose


class SlowPacer(DrainPacer):
    """A pacer that measured a congested service draining too slowly to hold two."""

    def hold_bound(self, bound: int) -> int:
        return 1


#: Bytes of every minute's body as :func:`_post` sends it.
BODY_BYTES = len(json.dumps(_body(0)))


@pytest.mark.parametrize(
    "bounds",
    [
        pytest.param({"max_inflight": 1}, id="requests"),
        # Room for ten requests, not for two bodies: held in bytes (declared), not only in number.
        pytest.param(
            {"max_inflight": 10, "max_body_bytes": 2 * BODY_BYTES - 1}
            | {"max_held_bytes": 2 * BODY_BYTES - 1},
            id="body-bytes",
        ),
        # Room for ten requests, but a congested service draining slowly holds one.
        pytest.param(
            {"max_inflight": 10, "pacer": SlowPacer(INGEST_RETRY_AFTER_MAX_S)}, id="slow-drain"
        ),
    ],
)
def test_beyond_a_held_bound_a_node_gets_429_with_retry_after(
    store: tuple[str, str], monkeypatch: pytest.MonkeyPatch, bounds: dict[str, Any]
) -> None:
    token = store[1]
    app, entered, release, dispose = _held_endpoint(store, monkeypatch, **bounds)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, client, token, 0)
        assert entered.wait(10)
        refused = _post(client, token, 1)
        release.set()
        answered = first.result(10)
        after = _post(client, token, 2)
    dispose()

    assert refused.status_code == 429
    assert refused.json() == {"error": "too many batches in flight, retry later"}
    assert _retry_after(refused) == 1  # nothing drained yet: the next slot, 1 s
    assert answered.json() == {"received": 1, "stored": 1}
    assert after.json() == {"received": 1, "stored": 1}  # the slot was given back


def test_a_body_of_undeclared_length_holds_the_largest_body_allowed(
    store: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunked (no Content-Length): it may grow to max_body_bytes, so that much is held."""
    token = store[1]
    app, entered, release, dispose = _held_endpoint(
        store, monkeypatch, max_inflight=10, max_body_bytes=10_000, max_held_bytes=10_100
    )
    chunks = [json.dumps(_body(0)).encode()]
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            client.post,
            "/api/v1/intervals",
            content=iter(chunks),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert entered.wait(10)
        refused = _post(client, token, 1)  # 10,000 held + a few hundred > 10,100
        release.set()
        answered = first.result(10)
    dispose()

    assert refused.status_code == 429
    assert answered.json() == {"received": 1, "stored": 1}


def test_the_held_bytes_bound_admits_the_largest_body_allowed() -> None:
    engine = make_engine("sqlite://")
    with pytest.raises(ValueError, match="max_held_bytes 99 is below max_body_bytes 100"):
        IngestEndpoint(session_factory(engine), lambda: NOW, max_body_bytes=100, max_held_bytes=99)
    engine.dispose()


def test_a_pool_of_one_held_by_another_session_is_503_with_retry_after(
    store: tuple[str, str],
) -> None:
    url, token = store
    engine = make_engine(url, pool_size=1, pool_timeout_s=0.2)
    with TestClient(create_app(session_factory(engine), clock=lambda: NOW)) as client:
        with engine.connect() as held:
            held.exec_driver_sql("SELECT 1")
            busy = _post(client, token)
        free = _post(client, token)
    engine.dispose()

    assert busy.status_code == 503
    assert busy.json() == {"error": "database unavailable, retry later"}
    _retry_after(busy)
    assert free.json() == {"received": 1, "stored": 1}


def test_requests_wait_for_a_thread_not_for_a_connection(
    store: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four slow batches over a pool of two that times out at once: none is refused."""
    url, token = store
    engine = make_engine(url, pool_size=2, pool_timeout_s=0.05)

    def slow(*args: Any, **kwargs: Any) -> int:
        time.sleep(HOLD_S)  # holding the connection
        return ingest_batch(*args, **kwargs)

    monkeypatch.setattr("slurm_carbon.service.ingest.ingest_batch", slow)
    with (
        TestClient(create_app(session_factory(engine), clock=lambda: NOW)) as client,
        ThreadPoolExecutor(4) as pool,
    ):
        answers = list(pool.map(lambda minute: _post(client, token, minute), range(4)))
    engine.dispose()

    assert [a.status_code for a in answers] == [200] * 4
    assert sum(a.json()["stored"] for a in answers) == 4


def test_retry_after_spreads_refused_nodes(store: tuple[str, str]) -> None:
    url, token = store
    engine = make_engine(url, pool_size=1, pool_timeout_s=0.01)
    with (
        TestClient(create_app(session_factory(engine), clock=lambda: datetime.now(UTC))) as client,
        engine.connect() as held,
    ):
        held.exec_driver_sql("SELECT 1")
        waits = {_retry_after(_post(client, token)) for _ in range(20)}
    engine.dispose()

    assert len(waits) > 1  # not every node told the same second


def _resent_batch() -> dict[str, Any]:
    """3 jobs x 2 GPUs x 5 minutes, every energy different."""
    gpus = [{**interval(0)["device"], "uuid": f"GPU-{n}", "minor": n} for n in range(2)]
    intervals = [
        interval(minute, job_id=job, device=gpus[gpu], energy_j=1000.0 * job + 10 * gpu + minute)
        for job in (101, 102, 103)
        for gpu in range(2)
        for minute in range(5)
    ]
    return {"cluster": CLUSTER, "node": NODE, "intervals": intervals}


#: What one sending of :func:`_resent_batch` gives each job, in joules.
ENERGY_J = {job: 10 * (1000.0 * job) + 5 * 10 + 2 * 10 for job in (101, 102, 103)}


def _energy_by_job(url: str) -> dict[int, float]:
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        energy = {}
        for job in ENERGY_J:
            found = find_job(session, CLUSTER, job)
            assert found is not None
            energy[job] = sum(i.energy_j for i in job_intervals(session, found.id))
    engine.dispose()
    return energy


SITE = StaticSite("DE", pue=1.4)
#: The jobs' run: the five minutes of :func:`_resent_batch`.
RUN_START = datetime(2026, 11, 23, 15, tzinfo=UTC)
#: What one sending gives each job, in grams: its energy at Flat's 100 g/kWh, times the PUE.
CO2E_G = {job: energy_j / J_PER_KWH * 100.0 * SITE.pue for job, energy_j in ENERGY_J.items()}


def _co2e_by_job(url: str) -> dict[int, float]:
    """Each job settled as the writer does (its result computed and stored): its CO2e."""
    engine = make_engine(url)
    co2e = {}
    with transaction(session_factory(engine)) as session:
        for job in ENERGY_J:
            found = find_job(session, CLUSTER, job)
            assert found is not None
            run = slurm_job(
                job, node_list=NODE, start_time=RUN_START, end_time=RUN_START + timedelta(minutes=5)
            )
            rows, sharers = job_intervals(session, found.id), jobs_on_node_slots(session, found.id)
            computed = compute_result(run, rows, SITE, Flat(), NOW, sharers=sharers).values
            co2e[job] = save_result(session, found.id, computed).co2e_g
    engine.dispose()
    return co2e


def test_a_batch_resent_after_its_answer_leaves_every_jobs_energy_unchanged(
    store: tuple[str, str],
) -> None:
    url, token = store
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(url, clock=lambda: NOW)) as client:
        first = client.post("/api/v1/intervals", json=_resent_batch(), headers=headers)
        energy, co2e = _energy_by_job(url), _co2e_by_job(url)
        again = client.post("/api/v1/intervals", json=_resent_batch(), headers=headers)

    assert first.json() == {"received": 30, "stored": 30}
    assert again.json() == {"received": 30, "stored": 0}
    assert energy == ENERGY_J
    assert _energy_by_job(url) == ENERGY_J
    assert co2e == pytest.approx(CO2E_G, rel=1e-12)
    assert _co2e_by_job(url) == co2e


def test_a_batch_resent_while_the_first_is_processed_is_stored_once(
    store: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests are in flight together (a barrier after parsing), then both write."""
    url, token = store
    headers = {"Authorization": f"Bearer {token}"}
    together = threading.Barrier(2, timeout=10)
    real_parse = ingest_module._parse

    def parse_together(body: bytes, now: datetime) -> Any:
        batch = real_parse(body, now)
        together.wait()
        return batch

    monkeypatch.setattr("slurm_carbon.service.ingest._parse", parse_together)
    with TestClient(create_app(url, clock=lambda: NOW)) as client, ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/api/v1/intervals", json=_resent_batch(), headers=headers),
                range(2),
            )
        )

    assert sorted(a.json()["stored"] for a in answers) == [0, 30]
    assert [a.json()["received"] for a in answers] == [30, 30]
    assert _energy_by_job(url) == ENERGY_J
    assert _co2e_by_job(url) == pytest.approx(CO2E_G, rel=1e-12)
