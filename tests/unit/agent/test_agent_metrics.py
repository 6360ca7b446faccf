"""The agent's own ``/metrics``: its figures, its loopback endpoint, off unless asked for."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from slurm_carbon.agent import Agent
from slurm_carbon.agent.metrics import (
    METRICS_ADDR,
    SENSOR_ERROR_KINDS,
    SENSORS,
    AgentCollector,
    AgentMetrics,
    serve_metrics,
)
from slurm_carbon.agent.shipper import Shipper
from slurm_carbon.agent.spool import DeviceRef
from slurm_carbon.cli.main import cli
from slurm_carbon.errors import DeviceLost, SensorError, SensorPermission
from slurm_carbon.sensors.fake import FakeGpu, FakeGpuBackend
from tests.unit.agent.conftest import hand_off
from tests.unit.agent.test_shipper import Service, fill, make_shipper

T0 = 1_800_000_000.0


def samples(collector: AgentCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the collector gives, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()
        for s in family.samples
    }


def spool_rows(agent: Agent, *, intervals: int, points: int, dead: int, slot_s: float = T0) -> None:
    """Leave closed intervals, progress points and dead letters in the agent's spool."""
    with agent.spool.transaction():
        for i in range(intervals + dead):
            agent.spool.add_energy(
                job_id=7,
                device=DeviceRef(f"GPU-{i}", "gpu"),
                slot_start_s=slot_s,
                energy_j=1.0,
                method="counter",
                sharing="exclusive",
                seconds=1.0,
            )
        for interval in agent.spool.open_intervals():
            agent.spool.close_interval("n1", interval, slot_s, slot_s + 60)
        for p in range(points):
            agent.spool.add_progress(7, T0 + p, p / 10)
    for row in agent.spool.outbox(dead):
        agent.spool.dead_letter([row.id], {"refused": row.id}, status=422, error="no", t_s=T0)


def test_the_collector_reads_the_spool_and_the_loop_state_at_scrape_time(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = make_agent()
    spool_rows(agent, intervals=5, points=3, dead=2)
    agent.metrics.sampling_lag_s = 0.25
    agent.metrics.jobs = 4
    shipper = Shipper(
        agent.config.db_path,
        service_url="http://127.0.0.1:9",
        token="t",  # noqa: S106 - a test token
        cluster="c",
        node="n1",
        session=requests.Session(),
    )
    shipper.last_ship_s = T0 + 42.5
    got = samples(AgentCollector(agent.config.db_path, agent.metrics, shipper))
    assert got[("slurm_carbon_agent_spool_backlog_rows", ())] == 8
    assert got[("slurm_carbon_agent_dead_letters", ())] == 2
    assert got[("slurm_carbon_agent_sampling_lag_seconds", ())] == 0.25
    assert got[("slurm_carbon_agent_jobs", ())] == 4
    assert got[("slurm_carbon_agent_last_ship_timestamp_seconds", ())] == T0 + 42.5
    # Every sensor and kind from the start, at 0: rate() sees the first error.
    errors = {k: v for k, v in got.items() if k[0] == "slurm_carbon_agent_sensor_errors_total"}
    assert len(errors) == len(SENSORS) * len(SENSOR_ERROR_KINDS)
    assert set(errors.values()) == {0.0}
    # The spool grew after the first scrape: the next one says so.
    spool_rows(agent, intervals=1, points=0, dead=0, slot_s=T0 + 60)
    got = samples(AgentCollector(agent.config.db_path, agent.metrics, shipper))
    assert got[("slurm_carbon_agent_spool_backlog_rows", ())] == 9


def test_no_ship_yet_and_no_spool_leave_their_figures_out(tmp_path: Path) -> None:
    got = samples(AgentCollector(tmp_path / "absent" / "agent.db", AgentMetrics(), None))
    names = {name for name, _ in got}
    assert "slurm_carbon_agent_spool_backlog_rows" not in names
    assert "slurm_carbon_agent_dead_letters" not in names
    assert "slurm_carbon_agent_last_ship_timestamp_seconds" not in names
    assert not (tmp_path / "absent").exists()  # a scrape creates nothing
    assert got[("slurm_carbon_agent_jobs", ())] == 0


def test_each_failed_read_is_counted_once_by_sensor_and_kind(
    make_agent: Callable[..., Agent],
) -> None:
    gpu = FakeGpu(0, uuid="GPU-a")
    agent = make_agent(gpu_backend=FakeGpuBackend([gpu]))
    agent.tick(T0)
    for t_s, error in [
        (T0 + 1, DeviceLost("fell off the bus")),
        (T0 + 2, DeviceLost("fell off the bus")),
        (T0 + 3, SensorPermission("root only")),
    ]:
        gpu.fail_next(error)
        agent.tick(t_s)
    got = samples(AgentCollector(agent.config.db_path, agent.metrics, None))
    errors = "slurm_carbon_agent_sensor_errors_total"
    assert got[(errors, (("kind", "lost"), ("sensor", "gpu")))] == 2
    assert got[(errors, (("kind", "permission"), ("sensor", "gpu")))] == 1
    assert sum(v for (name, _), v in got.items() if name == errors) == 3


def test_a_gpu_list_that_fails_counts_as_a_gpu_error(make_agent: Callable[..., Agent]) -> None:
    backend = FakeGpuBackend([])
    agent = make_agent(gpu_backend=backend)
    agent.tick(T0)
    backend.fail_next(SensorError("NVML not loaded"))
    agent.tick(T0 + 1)
    got = samples(AgentCollector(agent.config.db_path, agent.metrics, None))
    assert got[("slurm_carbon_agent_sensor_errors_total", (("kind", "other"), ("sensor", "gpu")))]


def test_jobs_are_the_ones_the_last_tick_tracked(
    make_agent: Callable[..., Agent], dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    agent = make_agent()
    hand_off(spool, 11, "start", T0)
    hand_off(spool, 12, "start", T0)
    agent.tick(T0 + 1)
    assert agent.metrics.jobs == 2


def test_the_lag_is_how_late_the_tick_began_against_its_schedule(
    make_agent: Callable[..., Agent],
) -> None:
    # Tick 1 starts at 0 and takes 1.75 s of a 1 s period: tick 2 was due at 1.0.
    times = iter([0.0, 0.0, 1.75, 1.75, 1.75])
    agent = make_agent(monotonic=lambda: next(times))
    stop = threading.Event()
    lags: list[float] = []

    def tick(now_s: float | None = None) -> None:
        lags.append(agent.metrics.sampling_lag_s)
        if len(lags) == 2:
            stop.set()

    agent.tick = tick  # type: ignore[method-assign]
    agent.shutdown = lambda now_s=None: None  # type: ignore[method-assign]
    # On a thread of its own: on the main thread it would take pytest's signals.
    loop = threading.Thread(target=agent.run_forever, args=(stop,))
    loop.start()
    loop.join(timeout=10)
    assert lags == [0.0, 0.75]


def test_the_last_ship_is_when_the_service_last_accepted_a_batch(tmp_path: Path) -> None:
    service = Service()
    service.thread.start()
    service.script = [(503, {}, {"error": "busy"})]
    db = tmp_path / "agent.db"
    fill(db, 2)
    try:
        with requests.Session() as session:
            shipper = make_shipper(db, service.url, session, clock=lambda: T0 + 7.5)
            assert shipper.ship_once() is not None  # refused: no ship yet
            assert shipper.last_ship_s is None
            assert shipper.ship_once() is None
            assert shipper.last_ship_s == T0 + 7.5
            shipper.close()
    finally:
        service.server.shutdown()
        service.server.server_close()


@pytest.fixture
def served(make_agent: Callable[..., Agent]) -> Iterator[tuple[Agent, int]]:
    agent = make_agent()
    server = serve_metrics(0, AgentCollector(agent.config.db_path, agent.metrics, None))
    try:
        yield agent, server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_the_endpoint_serves_the_figures_on_loopback_only(served: tuple[Agent, int]) -> None:
    agent, port = served
    agent.metrics.jobs = 3
    with urllib.request.urlopen(f"http://{METRICS_ADDR}:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["slurm_carbon_agent_jobs"].samples[0].value == 3
    assert families["slurm_carbon_agent_spool_backlog_rows"].samples[0].value == 0
    assert "python_gc_objects_collected" not in families  # a registry of its own
    assert METRICS_ADDR == "127.0.0.1"


def _run_agent(tmp_path: Path, *extra: str) -> tuple[int, str]:
    token = tmp_path / "token"
    token.write_text("abc\n")
    token.chmod(0o600)
    result = CliRunner().invoke(
        cli,
        [
            "agent",
            "run",
            *("--spool", str(tmp_path / "spool"), "--state", str(tmp_path / "state")),
            *("--service-url", "http://127.0.0.1:9", "--token-file", str(token)),
            *("--cluster", "c", "--node", "n1", "--gpu-backend", "none", "--tdp-w", "100"),
            *extra,
        ],
    )
    return result.exit_code, result.output


@pytest.fixture
def no_loop(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The agent starts and stops at once; the ports asked of ``serve_metrics``."""
    ports: list[int] = []

    def serve(port: int, collector: AgentCollector) -> object:
        ports.append(port)
        return serve_metrics(0, collector)

    monkeypatch.setattr("slurm_carbon.cli.agent.serve_metrics", serve)
    monkeypatch.setattr(Agent, "start", lambda self: None)
    monkeypatch.setattr(Agent, "run_forever", lambda self, stop=None: None)
    monkeypatch.delenv("SLURM_CARBON_AGENT_METRICS_PORT", raising=False)
    return ports


def test_metrics_are_off_by_default(tmp_path: Path, no_loop: list[int]) -> None:
    code, output = _run_agent(tmp_path)
    assert (code, output) == (0, "")
    assert no_loop == []


def test_metrics_port_serves_them(tmp_path: Path, no_loop: list[int]) -> None:
    code, output = _run_agent(tmp_path, "--metrics-port", "9464")
    assert (code, output) == (0, "")
    assert no_loop == [9464]


def test_a_busy_metrics_port_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Agent, "run_forever", lambda self, stop=None: None)
    held = serve_metrics(0, AgentCollector(tmp_path / "agent.db", AgentMetrics(), None))
    try:
        code, output = _run_agent(tmp_path, "--metrics-port", str(held.server_port))
    finally:
        held.shutdown()
        held.server_close()
    assert code == 1
    assert output.startswith(f"Error: --metrics-port {held.server_port}: cannot listen on ")
    assert output.count("\n") == 1
