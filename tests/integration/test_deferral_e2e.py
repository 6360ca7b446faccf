"""A carbon_defer job end to end: deferred by job_submit.lua, run, recorded, its saving measured.

An advice file for debug (the cluster's default partition) says this 15-minute step is
dirty (500 g/kWh) and the next clean (100); the store holds the same forecast, issued
before the submission, and actual intensities, 500 until a minute mark M after the
submission and 100 from M. ``sbatch -t 1 --comment carbon_defer=1h`` is deferred by the
lua to the next 15-minute step (Eligible); the test then lets it start at M (``scontrol
update StartTime=now``: waiting up to 15 minutes for the step would make a slow test) so
that it runs in the clean minutes. Before that, while the job is pending, the writer's
sweep has recorded its decision (first seen): the begin time the lua set and the saving
expected from the stored forecast (80 %: 100 against 500) with its issue time. A second
job, ``carbon_defer=auto``, gets the delay the lua resolved ``auto`` to (the advice
file's ``defer_default_s``) in its comment and its decision, then is cancelled. The
writer settles the first job's result and measures its saving, the decision left as
recorded: the job's energy profile moved to its submit time falls in the dirty minutes,
80 % more. ``report -j`` shows both.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from slurm_carbon.forecast.advice import Advice, format_advice
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.store import make_engine, session_factory
from slurm_carbon.store.deferrals import DeferralRecord, job_deferral
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.results import find_job
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.integration.conftest import SLURM_CARBON, Rig

pytestmark = pytest.mark.integration

STEP_S = 900  # the advice file's step
DIRTY, CLEAN = 500.0, 100.0
# Seconds of simulated work: short enough to fit between the submission and M when moved.
UNITS = 10
# Least time from the submission to M: the job's run (~10 s) moved to the submission must
# end before M, in the dirty minutes.
BEFORE_M_S = 40
# Least time from the submission to the next 15-minute step: M (at most 100 s on) falls
# before it, so the job is still pending when the test lets it start.
CLEAR_S = 180
# Seconds for the job to run, end, and its result and deferral to be settled.
DEADLINE_S = 150
# Seconds for the writer's sweep (every 2 s here) to see a pending job and record it.
SEEN_S = 30
# The advice file's defer_default_s: what carbon_defer=auto means to the lua.
AUTO_S = 12 * 3600
SITE = """cluster = "sclocal"
[regions]
default = "SE"
[pue]
default = 1.2
[advice]
dir = "{advice_dir}"
"""


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def store_intensity(rig: Rig, submit: int, mark: int, step: int) -> None:
    """The forecast (issued before ``submit``) and the actual values (dirty until ``mark``)."""
    forecast = [
        CiPoint(
            "SE",
            at(step + i * STEP_S),
            STEP_S,
            DIRTY if i == 0 else CLEAN,
            "slurm_carbon:blend",
            CiKind.FORECAST,
            CiSignal.AVERAGE,
            at(submit - 60),
        )
        for i in range(8)
    ]
    minutes = range(mark - 20 * 60, mark + 20 * 60, 60)
    actuals = [
        CiPoint(
            "SE",
            at(t),
            60,
            DIRTY if t < mark else CLEAN,
            "test-actual",
            CiKind.ACTUAL,
            CiSignal.AVERAGE,
            at(t),
        )
        for t in minutes
    ]
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine).begin() as session:
            add_ci_points(session, forecast + actuals)
    finally:
        engine.dispose()


def deferral_of(rig: Rig, job_id: str) -> DeferralRecord | None:
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            return None if job is None else job_deferral(session, job.id)
    finally:
        engine.dispose()


def decisions_while_pending(rig: Rig, job_id: str, auto_id: str) -> DeferralRecord:
    """The first job's decision recorded while it is pending; the auto job's, then cancelled."""
    # squeue: sacct 22.05 lists a job's comment empty until it has ended.
    comment = rig.cluster.run("squeue", "-h", "-j", auto_id, "-o", "%k").strip()
    assert comment == f"carbon_defer=auto carbon_defer_resolved={AUTO_S}s"
    rig.wait_for(
        lambda: deferral_of(rig, job_id) is not None and deferral_of(rig, auto_id) is not None,
        "the pending jobs' decisions recorded",
        timeout_s=SEEN_S,
    )
    try:
        pending = deferral_of(rig, job_id)
        auto = deferral_of(rig, auto_id)
    finally:
        rig.cluster.run("scancel", auto_id)
    assert pending is not None
    assert auto is not None
    assert (auto.asked_s, auto.first_seen) == (AUTO_S, True)
    assert pending.first_seen
    assert pending.expected_saving_pct == pytest.approx(80.0)
    assert pending.measured_saving_g is None
    return pending


def test_a_deferred_job_is_recorded_and_its_saving_measured(rig: Rig) -> None:
    now = int(time.time())
    if STEP_S - now % STEP_S < CLEAR_S:  # M and the submission in the same step
        time.sleep(STEP_S - now % STEP_S + 1)
        now = int(time.time())
    step = now - now % STEP_S
    mark = now - now % 60 + 60 * (1 + (BEFORE_M_S + now % 60) // 60)
    store_intensity(rig, now, mark, step)
    advice_dir = rig.work / "advice"
    config = rig.work / "site.toml"
    config.write_text(SITE.format(advice_dir=advice_dir))
    rig.start(
        "writer",
        *("writer", "--url", rig.service.db_url, "--spool", str(rig.spool)),
        *("--config", str(config), "--poll-s", "0.5", "--sweep-s", "2"),
        *("--settle-delay-s", "8", "--log-level", "DEBUG"),
    )
    advice = Advice(
        generated=now,
        partition="debug",
        region="SE",
        source="slurm_carbon:blend",
        issued=now - 60,
        hint=True,
        threshold_pct=10.0,
        defer_default_s=AUTO_S,
        step_s=STEP_S,
        start=step,
        ci=(DIRTY,) + (CLEAN,) * 7,
    )
    advice_file = Path(rig.cluster.env["SLURM_CARBON_ADVICE_DIR"]) / "debug.advice"
    advice_file.write_text(format_advice(advice))

    try:
        job_id = rig.submit_work(
            "-t", "1", "--gres=gpu:1", "--comment=carbon_defer=1h", units=UNITS
        )
        auto_id = rig.submit_work(
            "-t", "1", "--gres=gpu:1", "--comment=carbon_defer=auto", units=UNITS
        )
    finally:
        advice_file.unlink()
    fields = ["JobID", "Submit", "Eligible"]
    rig.wait_for(lambda: bool(rig.cluster.sacct(job_id, fields)), "sacct listing the job")
    (row,) = rig.cluster.sacct(job_id, fields)
    assert row["Eligible"] == str(step + STEP_S)  # the lua deferred it to the clean step
    pending = decisions_while_pending(rig, job_id, auto_id)
    assert pending.eligible_time == at(step + STEP_S)  # as the lua set it, not yet moved
    assert (pending.forecast_source, pending.forecast_issued) == (
        "slurm_carbon:blend",
        at(now - 60),
    )
    assert time.time() < mark + 1, "recorded before the test moved the job's start"
    time.sleep(max(0.0, mark + 1 - time.time()))
    rig.cluster.run("scontrol", "update", f"jobid={job_id}", "StartTime=now")
    rig.cluster.wait_for_job(job_id, timeout_s=DEADLINE_S)
    rig.wait_for(
        lambda: (
            (found := deferral_of(rig, job_id)) is not None
            and found.measured_saving_pct is not None
        ),
        "the deferral recorded and measured",
        timeout_s=DEADLINE_S,
    )

    found = deferral_of(rig, job_id)
    assert found is not None
    assert found.asked_s == 3600
    assert found.submit_time == at(int(row["Submit"]))
    # The decision as first seen (the lua's begin time, not the one the test moved it to).
    assert replace(found, measured_saving_g=None, measured_saving_pct=None) == pending
    assert found.measured_saving_pct == pytest.approx(80.0)
    assert found.measured_saving_g is not None
    assert found.measured_saving_g > 0
    shown = subprocess.run(
        [SLURM_CARBON, "report", "--url", rig.service.db_url, "-j", job_id],
        env={**rig.cluster.env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    text = " ".join(shown.split())
    assert "by carbon_defer=1h: expected ~80 % less (forecast slurm_carbon:blend issued" in text
    assert ", when the job was first seen), measured 80 % less (" in text
