"""Wall time of the prolog+epilog hand-off, as a ratio to a minimal hook.

The baseline is the smallest useful hook (what Princeton Jobstats' prolog
helper does): a POSIX sh script writing the job id to a file. Both run under
``env -i`` like slurmd's thin hook environment.

Usage: .venv/bin/python benchmarks/shims.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROLOG = REPO / "prolog" / "slurm-carbon-prolog"
EPILOG = REPO / "epilog" / "slurm-carbon-epilog"
MINIMAL = '#!/bin/sh\nprintf "%s\\n" "$SLURM_JOB_ID" >"$SLURM_CARBON_SPOOL/$SLURM_JOB_ID"\nexit 0\n'


def timed(script: Path, env: list[str]) -> float:
    """Run ``script`` under ``env -i`` with ``env``; return its wall time in seconds."""
    began = time.perf_counter()
    subprocess.run(["/usr/bin/env", "-i", *env, str(script)], check=True, timeout=10)
    return time.perf_counter() - began


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    """Time both hooks ``--runs`` times and print p50/p99 and their ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal-hook"
        minimal.write_text(MINIMAL)
        minimal.chmod(0o755)
        ours: list[float] = []
        base: list[float] = []
        for run in range(args.runs):
            env = [
                f"SLURM_CARBON_SPOOL={tmp}/spool",
                f"SLURM_JOB_ID={1000 + run}",
                "SLURM_JOB_GPUS=0,1",
                "CUDA_VISIBLE_DEVICES=0,1",
                "SLURM_JOB_UID=1000",
                "SLURM_JOB_COMMENT=carbon_budget=5kg",
            ]
            ours.append(timed(PROLOG, env) + timed(EPILOG, env))
            (Path(tmp) / "base").mkdir(exist_ok=True)
            base_env = [f"SLURM_CARBON_SPOOL={tmp}/base", f"SLURM_JOB_ID={1000 + run}"]
            base.append(timed(minimal, base_env) + timed(minimal, base_env))
    for name, values in (("prolog+epilog", ours), ("minimal x2", base)):
        print(
            f"{name:14s} p50 {percentile(values, 0.5) * 1e3:7.2f} ms   "
            f"p99 {percentile(values, 0.99) * 1e3:7.2f} ms   (n={len(values)})"
        )
    print(
        f"ratio          p50 {percentile(ours, 0.5) / percentile(base, 0.5):5.2f}x   "
        f"p99 {percentile(ours, 0.99) / percentile(base, 0.99):5.2f}x   "
        f"mean {statistics.mean(ours) / statistics.mean(base):5.2f}x"
    )


if __name__ == "__main__":
    main()
