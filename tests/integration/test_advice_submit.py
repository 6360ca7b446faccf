"""Submit-time advice on the real local cluster: job_submit.lua's hint and opt-in deferral.

An advice file for the cluster's default partition (debug) holds a series dirty now and
clean two hours on: a GPU job ``sbatch --gres=gpu:1 -t 60`` is told so on stderr (with
the site's minimum of an hour, a 2 h GPU job is and a 10 min one is not);
``carbon_defer=6h`` gets its EligibleTime at the clean start (Reason=BeginTime); a stale
or corrupted file, or ``carbon_advice=off``, prints nothing and the job is accepted.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from slurm_carbon.forecast.advice import ADVICE_STALE_S, Advice, format_advice
from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration

H = 3600
# What the hint cases' jobs ask for: the hint is meant for GPU jobs, and the local cluster's
# node has 4 simulated GPUs (deploy/local/cluster), so one fits beside other tests' jobs.
GPU = "--gres=gpu:1"
# Seconds kept clear of the end of an hour: the series' steps are hours, and a submission
# crossing into the next one would see another window (a few sbatch calls take < 10 s).
EDGE_S = 20
# How long slurmdbd may take to list a pending job (it lags a few seconds behind slurmctld).
ACCOUNTED_S = 30
REFUSED = "sbatch: error: Batch job submission failed: Unspecified error"


def dirty_then_clean(now: int) -> Advice:
    """Debug's advice at ``now``: 500 g/kWh this hour and the next, 100 from the one after."""
    start = now - now % H
    return Advice(
        generated=now,
        partition="debug",
        region="DE",
        source="slurm_carbon:blend",
        issued=start - H,
        hint=True,
        threshold_pct=10.0,
        defer_default_s=12 * H,
        step_s=H,
        start=start,
        ci=(500.0, 500.0) + (100.0,) * 10,
    )


@pytest.fixture
def advice_file(slurm_cluster: SlurmCluster) -> Iterator[Path]:
    """Debug's advice file, removed after the test; now is kept clear of an hour's end."""
    wait = EDGE_S - (H - time.time() % H)
    if wait > 0:
        time.sleep(wait + 1)
    path = Path(slurm_cluster.env["SLURM_CARBON_ADVICE_DIR"]) / "debug.advice"
    yield path
    path.unlink(missing_ok=True)


def write(path: Path, advice: Advice) -> None:
    path.write_text(format_advice(advice))


def sbatch(cluster: SlurmCluster, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["sbatch", "--parsable", *args, "--wrap=true"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode == 0:
        cluster.run("scancel", result.stdout.strip())
    return result


def accounted(cluster: SlurmCluster, job_id: str) -> list[dict[str, str]]:
    """The job's Eligible and State in sacct, once slurmdbd has its row (it lags seconds)."""
    deadline = time.monotonic() + ACCOUNTED_S
    while not (rows := cluster.sacct(job_id, ["Eligible", "State"])):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return rows


def clock(at: int) -> str:
    return time.strftime("%H:%M", time.localtime(at))


def test_a_long_gpu_job_is_told_at_sbatch_when_it_would_be_cleaner(
    slurm_cluster: SlurmCluster, advice_file: Path
) -> None:
    advice = dirty_then_clean(int(time.time()))
    write(advice_file, advice)
    clean = advice.start + 2 * H

    submitted = sbatch(slurm_cluster, "--hold", GPU, "-t", "60")

    assert submitted.returncode == 0
    assert submitted.stderr.splitlines() == [
        f"sbatch: carbon: starting at {clock(clean)} would emit ~80 % less for a 1 h job on"
        f" debug; add --begin={time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(clean))}"
        " (or --comment carbon_defer=2h)"
    ]


def test_the_hint_is_for_a_gpu_job_as_long_as_the_sites_minimum_not_a_shorter_one(
    slurm_cluster: SlurmCluster, advice_file: Path
) -> None:
    # Dirty for three hours: a 2 h job started now is wholly in it, whatever the minute.
    advice = replace(dirty_then_clean(int(time.time())), ci=(500.0,) * 3 + (100.0,) * 9)
    write(advice_file, replace(advice, hint_min_s=H))
    clean = advice.start + 3 * H

    short = sbatch(slurm_cluster, "--hold", GPU, "-t", "10")
    long = sbatch(slurm_cluster, "--hold", GPU, "-t", "120")

    assert (short.returncode, short.stderr) == (0, "")
    assert long.returncode == 0
    assert long.stderr.splitlines() == [
        f"sbatch: carbon: starting at {clock(clean)} would emit ~80 % less for a 2 h job on"
        f" debug; add --begin={time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(clean))}"
        " (or --comment carbon_defer=3h)"
    ]


def test_a_deferred_job_is_eligible_at_the_clean_start(
    slurm_cluster: SlurmCluster, advice_file: Path
) -> None:
    advice = dirty_then_clean(int(time.time()))
    write(advice_file, advice)
    clean = advice.start + 2 * H

    job_id = slurm_cluster.sbatch("-t", "60", "--comment=carbon_defer=6h", "--wrap=true")
    try:
        shown = slurm_cluster.run("scontrol", "-o", "show", "job", job_id)
        eligible = accounted(slurm_cluster, job_id)
    finally:
        slurm_cluster.run("scancel", job_id)

    fields = dict(field.split("=", 1) for field in shown.split() if "=" in field)
    assert (fields["EligibleTime"], fields["Reason"], fields["JobState"]) == (
        str(clean),
        "BeginTime",
        "PENDING",
    )
    assert eligible == [{"Eligible": str(clean), "State": "PENDING"}]


def test_the_deferral_is_told_to_the_user(slurm_cluster: SlurmCluster, advice_file: Path) -> None:
    advice = dirty_then_clean(int(time.time()))
    write(advice_file, advice)

    submitted = sbatch(slurm_cluster, "-t", "60", "--comment=carbon_defer=6h")

    assert submitted.stderr.splitlines() == [
        f"sbatch: carbon: deferred to {clock(advice.start + 2 * H)} (~80 % less than now,"
        f" forecast slurm_carbon:blend issued {clock(advice.issued)})"
    ]


@pytest.mark.parametrize(
    ("what", "args", "text"),
    [
        ("a stale file", ("-t", "60"), "stale"),
        ("a corrupted file", ("-t", "60"), "ci=500,5\x00\n"),
        ("no file", ("-t", "60"), None),
        ("the user's opt-out", ("-t", "60", "--comment=carbon_advice=off"), "good"),
        ("a saving below the site's threshold", ("-t", "600"), "threshold 90"),
    ],
)
def test_no_hint_and_the_job_accepted(
    slurm_cluster: SlurmCluster,
    advice_file: Path,
    what: str,
    args: tuple[str, ...],
    text: str | None,
) -> None:
    advice = dirty_then_clean(int(time.time()))
    if text == "stale":
        write(advice_file, replace(advice, generated=advice.generated - ADVICE_STALE_S - 1))
    elif text == "good":
        write(advice_file, advice)
    elif text == "threshold 90":
        write(advice_file, replace(advice, threshold_pct=90.0))
    elif text is not None:
        advice_file.write_text(text)

    submitted = sbatch(slurm_cluster, "--hold", *args)

    assert (submitted.returncode, submitted.stderr) == (0, ""), what


def test_a_malformed_defer_is_refused_with_one_line(slurm_cluster: SlurmCluster) -> None:
    refused = sbatch(slurm_cluster, "--hold", "--comment=carbon_defer=0h")

    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        'sbatch: error: slurm_carbon: bad carbon_defer "carbon_defer=0h": not more than zero;'
        " write e.g. carbon_defer=12h or carbon_defer=auto (a whole number of m, h or d;"
        " more than 0, at most 7 d)",
        REFUSED,
    ]
