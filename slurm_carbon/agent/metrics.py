"""The agent's own ``/metrics``: optional, served on 127.0.0.1 only.

Off unless ``slurm-carbon agent run --metrics-port PORT`` asks for it. Served by
prometheus-client's own HTTP server on a daemon thread, from a registry of its
own, so a scrape never waits on the sampling loop nor the loop on a scrape.
:class:`AgentCollector` reads current state at each scrape: the spool's counts
(a read-only SQLite connection of the scrape's own, see
:func:`~slurm_carbon.agent.spool.read_health`), and what the loop left in
:class:`AgentMetrics` (plain values, and the sensor error counts behind a lock
held only for an increment or a copy). The service's ``/metrics`` has the
node's backlog too, but only as of the node's latest batch: this one also
answers while the service cannot be reached.

Loopback only, never ``0.0.0.0``: it is for a scraper on this node (a local
Prometheus agent, or a node exporter's textfile collector fed from it), and the
agent runs as root on a compute node whose users should not reach its sockets.

=================================================== ======= ========================
Metric                                              Type    Meaning
=================================================== ======= ========================
``slurm_carbon_agent_spool_backlog_rows``           gauge   intervals + progress
                                                            points not yet shipped
``slurm_carbon_agent_dead_letters``                 gauge   refused batches kept
``slurm_carbon_agent_sampling_lag_seconds``         gauge   how late the latest tick
                                                            began
``slurm_carbon_agent_sensor_errors_total``          counter failed reads {sensor,kind}
``slurm_carbon_agent_last_ship_timestamp_seconds``  gauge   latest batch accepted
``slurm_carbon_agent_jobs``                         gauge   jobs tracked
=================================================== ======= ========================
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from slurm_carbon.agent.shipper import Shipper
from slurm_carbon.agent.spool import read_health
from slurm_carbon.errors import DeviceLost, SensorError, SensorPermission, SensorUnsupported

__all__ = [
    "METRICS_ADDR",
    "PORT_MAX",
    "SENSORS",
    "SENSOR_ERROR_KINDS",
    "SPOOL_READ_TIMEOUT_S",
    "AgentCollector",
    "AgentMetrics",
    "Sensor",
    "serve_metrics",
]

logger = logging.getLogger(__name__)

#: Loopback only: node-local scrapers; the agent runs as root among users' jobs.
METRICS_ADDR = "127.0.0.1"
#: The largest TCP port.
PORT_MAX = 65535
#: How long a scrape may wait for agent.db: WAL readers do not wait on the agent's
#: writes, so this is only reached when the disk stalls; then the spool's two
#: figures are left out of that scrape rather than hold the scraper (whose own
#: timeout is 10 s by default).
SPOOL_READ_TIMEOUT_S = 1.0

Sensor = Literal["gpu", "rapl", "cpu_estimate"]
#: The ``sensor`` label: the GPU backend (listing and reading GPUs), RAPL, the
#: CPU/DRAM estimate used without RAPL.
SENSORS: tuple[Sensor, ...] = ("gpu", "rapl", "cpu_estimate")
#: The ``kind`` label, from the error tree (``other``: any other SensorError).
SENSOR_ERROR_KINDS: dict[type[SensorError], str] = {
    SensorUnsupported: "unsupported",
    SensorPermission: "permission",
    DeviceLost: "lost",
    SensorError: "other",
}


def _kind(err: SensorError) -> str:
    """The most specific kind: the table lists subclasses before ``SensorError``."""
    return next(
        kind for error_type, kind in SENSOR_ERROR_KINDS.items() if isinstance(err, error_type)
    )


class AgentMetrics:
    """What the sampling loop leaves for the scraper.

    Attributes:
        sampling_lag_s: How much later than scheduled the latest tick began (the
            previous tick's start plus ``sample_s``; 0 for the first). Units: seconds.
        jobs: Jobs the latest tick tracked: started, or stopped and not yet accounted.
    """

    def __init__(self) -> None:
        self.sampling_lag_s = 0.0
        self.jobs = 0
        self._lock = threading.Lock()
        self._errors: collections.Counter[tuple[str, str]] = collections.Counter()

    def sensor_error(self, sensor: Sensor, err: SensorError) -> None:
        """Count one failed read."""
        with self._lock:
            self._errors[sensor, _kind(err)] += 1

    def sensor_errors(self) -> dict[tuple[str, str], int]:
        """Failed reads so far by (sensor, kind)."""
        with self._lock:
            return dict(self._errors)


class AgentCollector(Collector):
    """The agent's figures, read when scraped.

    Args:
        db_path: ``$STATE/agent.db`` (read-only; a missing one leaves its figures out).
        metrics: The loop's state.
        shipper: Its latest accepted batch, or ``None`` when nothing is shipped.
    """

    def __init__(self, db_path: Path, metrics: AgentMetrics, shipper: Shipper | None) -> None:
        self.db_path = db_path
        self.metrics = metrics
        self.shipper = shipper

    def collect(self) -> Iterator[Metric]:
        """Every figure of the table above."""
        try:
            backlog, dead = read_health(self.db_path, SPOOL_READ_TIMEOUT_S)
        except sqlite3.Error as err:
            logger.debug("scrape: cannot read %s: %s", self.db_path, err)
        else:
            yield GaugeMetricFamily(
                "slurm_carbon_agent_spool_backlog_rows",
                "Rows (intervals, progress points) in the spool not yet shipped.",
                value=backlog,
            )
            yield GaugeMetricFamily(
                "slurm_carbon_agent_dead_letters",
                "Batches the service refused, kept in the spool, never retried.",
                value=dead,
            )
        yield GaugeMetricFamily(
            "slurm_carbon_agent_sampling_lag_seconds",
            "How much later than scheduled the latest tick began.",
            value=self.metrics.sampling_lag_s,
        )
        errors = CounterMetricFamily(
            "slurm_carbon_agent_sensor_errors",
            "Failed device reads, each counted once.",
            labels=("sensor", "kind"),
        )
        counts = self.metrics.sensor_errors()
        for sensor in SENSORS:
            for kind in SENSOR_ERROR_KINDS.values():
                errors.add_metric((sensor, kind), counts.get((sensor, kind), 0))
        yield errors
        last_ship_s = None if self.shipper is None else self.shipper.last_ship_s
        if last_ship_s is not None:
            yield GaugeMetricFamily(
                "slurm_carbon_agent_last_ship_timestamp_seconds",
                "When the service last accepted a batch (seconds since the epoch).",
                value=last_ship_s,
            )
        yield GaugeMetricFamily(
            "slurm_carbon_agent_jobs",
            "Jobs tracked: started, or stopped and not yet accounted.",
            value=self.metrics.jobs,
        )


def serve_metrics(port: int, collector: AgentCollector) -> WSGIServer:
    """Serve ``collector`` on ``METRICS_ADDR:port`` from a daemon thread; ``port`` 0: any free one.

    Returns:
        The server (``server_port``: the port bound; ``shutdown()`` stops it).

    Raises:
        OSError: The port cannot be bound.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=METRICS_ADDR, registry=registry)
    return server
