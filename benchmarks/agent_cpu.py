"""Agent CPU time per sampled device-second, as a ratio to a bare counter read.

Ticks an :class:`~slurm_carbon.agent.Agent` over fake GPUs (one job per GPU)
with an injected clock, one tick per simulated second, and measures this
process's CPU time (user+system: SQLite's fsync included); the baseline reads
the same fake counter the same number of times in a bare loop.

Usage: .venv/bin/python benchmarks/agent_cpu.py [--gpus 4] [--seconds 600]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from slurm_carbon.agent import Agent, AgentConfig
from slurm_carbon.agent.handoff import write_key_values
from slurm_carbon.sensors.fake import FakeCpuEnergy, FakeGpuBackend


def main() -> None:
    """Tick the agent, then read the counters bare; print CPU per device-second and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpus", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    backend = FakeGpuBackend.with_gpus(args.gpus, power_mw=200_000)
    cpu = FakeCpuEnergy(1)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp) / "spool"
        for minor in range(args.gpus):
            write_key_values(
                spool / "jobs",
                f"{minor + 1}.start",
                {"JOB_ID": minor + 1, "SLURM_JOB_GPUS": minor, "TIME": "0"},
            )
        agent = Agent(
            AgentConfig(node="bench", spool_dir=spool, state_dir=Path(tmp) / "state"),
            gpu_backend=backend,
            cpu_backend=cpu,
        )
        agent.tick(0.0)
        began = time.process_time()
        for second in range(1, args.seconds + 1):
            backend.advance(1.0)
            cpu.add_energy_uj("package-0", 50_000_000)
            agent.tick(float(second))
        agent_cpu_s = time.process_time() - began
        rows = agent.spool.outbox_count()
        agent.spool.close()

    devices = args.gpus + 2  # + cpu-package-0, dram-package-0
    gpus = list(backend.gpus())
    reads = args.seconds * devices
    began = time.process_time()
    for _ in range(args.seconds):
        for gpu in gpus:
            gpu.energy_mj()
        for _ in range(devices - len(gpus)):
            gpus[0].energy_mj()
    bare_cpu_s = time.process_time() - began

    per_agent = agent_cpu_s / reads
    per_bare = bare_cpu_s / reads
    print(f"{args.seconds} ticks x {devices} devices, {rows} intervals closed")
    print(f"agent     {per_agent * 1e6:9.2f} us CPU per device-second ({agent_cpu_s:.3f} s total)")
    print(f"bare read {per_bare * 1e6:9.2f} us CPU per read ({bare_cpu_s:.4f} s total)")
    print(f"ratio     {per_agent / per_bare:9.1f}x")
    print(f"agent CPU share of one core at 1 Hz: {agent_cpu_s / args.seconds * 100:.3f} %")


if __name__ == "__main__":
    main()
