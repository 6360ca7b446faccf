"""A carbon_defer job end to end: deferred by job_submit.lua to a valley, started there by Slurm.

An advice file for debug (the cluster's default partition) says the minutes up to a
minute mark V, 1.5 to 2.7 minutes after the submission, are dirty (500 g/kWh) and those
from V clean (100), on a one-minute step. ``job_submit.lua`` accepts only the stored
forecasts' steps (15 min, 30 min, 1 h: ``ADVICE_STEPS_S``), which would put the valley up
to 15 minutes away; the test installs, for its submissions only, the same lua with a
one-minute step accepted as well (:func:`lua_accepting`), then puts the original back.
``sbatch -t 1 --comment carbon_defer=1h`` gets its begin time set to V (``scontrol show
job`` and sacct agree), and Slurm starts it there by itself: its Start is V or a few
seconds after (the cluster schedules every second). A second job, ``carbon_defer=auto``,
is deferred to V too, with the delay the lua resolved ``auto`` to (the advice file's
``defer_default_s``) in its comment and its decision, then cancelled. A job array of
TASKS tasks with ``carbon_defer=1h``, one record in sacct while pending (``<id>_[0-1]``,
not split into tasks), has its decision recorded for it whole; its tasks start from V
(the node's two CPUs: one at V beside the job, the other when a CPU frees) and each
holds that decision, its own saving measured.

The store holds a forecast issued before the submission (on the stored forecasts'
15-minute step: the step holding the submission dirty, the next ones clean; so the
service's expected saving is 80 %: 100 against 500) and actual intensities, 500 until V
and 100 from V. While the job is pending, the writer's sweep records its decision (first
seen): the begin time the lua set and the expected saving with the forecast's issue time.
Once the job has run in the clean minutes, the writer settles its result and measures
its saving, the decision left as recorded: the job's energy profile moved to its submit
time falls in the dirty minutes, 80 % more. ``report -j`` shows both.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from slurm_carbon.forecast.advice import Advice, format_advice
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.store import make_engine, session_factory
from slurm_carbon.store.deferrals import DeferralRecord, job_deferral
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.results import find_job
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.integration.conftest import SLURM_CARBON, Rig, SlurmCluster

pytestmark = pytest.mark.integration

# The advice file's step: a minute, so the valley lies a minute or two ahead.
ADVICE_STEP_S = 60
# The advice file's values: two hours, past the 1 h delay and the job's minute.
ADVICE_POINTS = 120
# The stored forecast's step: the stored forecasts' finest (the service's expected
# saving is made on it, as the advice files are).
FORECAST_STEP_S = 900
DIRTY, CLEAN = 500.0, 100.0
# Seconds of simulated work: short enough to end before V when moved to the submission.
UNITS = 10
# Least time from the submission to V: the writer's sweep records the pending jobs'
# decisions (SEEN_S) before V, and the job's run (~10 s) moved to the submission ends
# before V, in the dirty minutes. V is the first minute mark this long after the
# submissions at the latest (SUBMIT_S): 1.5 to 2.7 minutes after the submission.
LEAD_S = 90
# Most seconds from the test's start to the submissions (the writer started, two sbatch).
SUBMIT_S = 10
# Least time from the test's start to the next 15-minute step: the submissions (SUBMIT_S)
# land in the stored forecast's dirty step (else the test waits for the next one).
STEP_MARGIN_S = 2 * SUBMIT_S
# Seconds from V within which Slurm starts the job: deploy/local/slurm.conf.in sets
# sched_interval=1 and bf_interval=1, so a scheduler pass sees the begin time passed
# within a second or two; 10 s leaves room for a loaded two-core machine, and a start at
# the submission or after a default pass (sched_interval=60) fails.
START_SLACK_S = 10
# Seconds for the job to run, end, and its result and deferral to be settled.
DEADLINE_S = 150
# Seconds for the writer's sweep (every 2 s here) to see a pending job and record it.
SEEN_S = 30
# The tasks of the deferred array (one GPU each, beside the job's: the simulator has 4).
TASKS = 2
# The advice file's defer_default_s: what carbon_defer=auto means to the lua.
AUTO_S = 12 * 3600
# The lua's table of accepted steps, which lua_accepting extends for the test.
LUA_STEPS = "local ADVICE_STEPS_S = {"
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


def store_intensity(rig: Rig, submit: int, valley: int) -> None:
    """The forecast (issued before ``submit``) and the actual values (dirty until ``valley``)."""
    step = submit - submit % FORECAST_STEP_S
    forecast = [
        CiPoint(
            "SE",
            at(step + i * FORECAST_STEP_S),
            FORECAST_STEP_S,
            DIRTY if i == 0 else CLEAN,
            "slurm_carbon:blend",
            CiKind.FORECAST,
            CiSignal.AVERAGE,
            at(submit - 60),
        )
        for i in range(8)
    ]
    minutes = range(valley - 20 * 60, valley + 20 * 60, 60)
    actuals = [
        CiPoint(
            "SE",
            at(t),
            60,
            DIRTY if t < valley else CLEAN,
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


def write_advice(rig: Rig, now: int, valley: int) -> Path:
    """debug's advice file: dirty until ``valley``, clean from it, on ADVICE_STEP_S."""
    start = now - now % ADVICE_STEP_S
    dirty = (valley - start) // ADVICE_STEP_S
    advice = Advice(
        generated=now,
        partition="debug",
        region="SE",
        source="slurm_carbon:blend",
        issued=now - 60,
        hint=True,
        threshold_pct=10.0,
        defer_default_s=AUTO_S,
        step_s=ADVICE_STEP_S,
        start=start,
        ci=(DIRTY,) * dirty + (CLEAN,) * (ADVICE_POINTS - dirty),
    )
    advice_file = Path(rig.cluster.env["SLURM_CARBON_ADVICE_DIR"]) / "debug.advice"
    advice_file.write_text(format_advice(advice))
    return advice_file


def _install(path: Path, text: str) -> None:
    """``text`` as ``path``, atomically, its mtime a second ahead of any load so far.

    slurmctld re-reads job_submit.lua when its mtime is later than the last load (whole
    seconds): a write in the second of a load would otherwise be missed.
    """
    spare = path.with_name(path.name + ".test")
    spare.write_text(text)
    ahead = int(time.time()) + 1
    os.utime(spare, (ahead, ahead))
    spare.replace(path)


@contextmanager
def lua_accepting(cluster: SlurmCluster, step_s: int) -> Iterator[None]:
    """The cluster's job_submit.lua accepting advice on ``step_s`` too, then as it was."""
    installed = Path(cluster.env["SLURM_CONF"]).parent / "job_submit.lua"
    original = installed.read_text()
    assert original.count(LUA_STEPS) == 1, "job_submit.lua's ADVICE_STEPS_S not found"
    _install(installed, original.replace(LUA_STEPS, f"{LUA_STEPS}[{step_s}] = true, "))
    try:
        yield
    finally:
        _install(installed, original)


def deferral_of(rig: Rig, job_id: str) -> DeferralRecord | None:
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            return None if job is None else job_deferral(session, job.id)
    finally:
        engine.dispose()


def measured(rig: Rig, job_id: str) -> bool:
    """Whether the job's deferral is stored with its measured saving."""
    found = deferral_of(rig, job_id)
    return found is not None and found.measured_saving_pct is not None


def shown_job(cluster: SlurmCluster, job_id: str) -> dict[str, str]:
    """``scontrol show job``'s fields (times in epoch seconds)."""
    shown = cluster.run("scontrol", "-o", "show", "job", job_id)
    return dict(field.split("=", 1) for field in shown.split() if "=" in field)


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


def started_at(rig: Rig, job_id: str, valley: int) -> int:
    """The job's StartTime as ``scontrol show job`` has it once it has started."""
    started: dict[str, str] = {}
    time.sleep(max(0.0, valley - time.time() - 1))  # not polling slurmctld for minutes

    def running() -> bool:
        started.update(shown_job(rig.cluster, job_id))
        return started["JobState"] != "PENDING"

    rig.wait_for(running, "the job started", timeout_s=valley - time.time() + DEADLINE_S)
    return int(started["StartTime"])


def array_decision(rig: Rig, array_id: str, valley: int) -> DeferralRecord:
    """The pending array's decision, recorded for it whole (one record, not split yet)."""
    (listed,) = rig.cluster.sacct(array_id, ["JobID", "Eligible"])
    assert listed == {"JobID": f"{array_id}_[0-{TASKS - 1}]", "Eligible": str(valley)}
    rig.wait_for(
        lambda: deferral_of(rig, array_id) is not None,
        "the pending array's decision recorded",
        timeout_s=SEEN_S,
    )
    whole = deferral_of(rig, array_id)
    assert whole is not None
    assert (whole.first_seen, whole.eligible_time) == (True, at(valley))
    assert whole.expected_saving_pct == pytest.approx(80.0)
    return whole


def tasks_inherit(rig: Rig, array_id: str, whole: DeferralRecord, valley: int) -> None:
    """The tasks started from the valley, with the array's decision, their savings measured.

    The node has 2 CPUs: the job and one task start at the valley, the other task when
    a CPU frees (the first ends ~10 s later).
    """
    tasks = rig.cluster.wait_for_job(
        array_id, tasks=TASKS, fields=("JobID", "JobIDRaw", "State", "Start"), timeout_s=DEADLINE_S
    )
    starts = sorted(int(task["Start"]) for task in tasks)
    assert valley <= starts[0] <= valley + START_SLACK_S
    for task in tasks:
        assert task["State"] == "COMPLETED"
        raw = task["JobIDRaw"]
        rig.wait_for(partial(measured, rig, raw), f"{task['JobID']} measured", DEADLINE_S)
        found = deferral_of(rig, raw)
        assert found is not None
        inherited = replace(found, measured_saving_g=None, measured_saving_pct=None)
        assert replace(inherited, job_id=whole.job_id) == whole
        assert found.measured_saving_pct == pytest.approx(80.0)


def test_a_deferred_job_starts_at_the_valley_and_its_saving_is_measured(rig: Rig) -> None:
    now = int(time.time())
    if FORECAST_STEP_S - now % FORECAST_STEP_S < STEP_MARGIN_S:
        time.sleep(FORECAST_STEP_S - now % FORECAST_STEP_S + 1)
        now = int(time.time())
    earliest = now + SUBMIT_S + LEAD_S
    valley = earliest + (-earliest) % ADVICE_STEP_S
    store_intensity(rig, now, valley)
    advice_dir = rig.work / "advice"
    config = rig.work / "site.toml"
    config.write_text(SITE.format(advice_dir=advice_dir))
    rig.start(
        "writer",
        *("writer", "--url", rig.service.db_url, "--spool", str(rig.spool)),
        *("--config", str(config), "--poll-s", "0.5", "--sweep-s", "2"),
        *("--settle-delay-s", "8", "--log-level", "DEBUG"),
    )
    advice_file = write_advice(rig, now, valley)
    try:
        with lua_accepting(rig.cluster, ADVICE_STEP_S):
            job_id = rig.submit_work(
                "-t", "1", "--gres=gpu:1", "--comment=carbon_defer=1h", units=UNITS
            )
            auto_id = rig.submit_work(
                "-t", "1", "--gres=gpu:1", "--comment=carbon_defer=auto", units=UNITS
            )
            array_id = rig.submit_work(
                f"--array=0-{TASKS - 1}",
                *("-t", "1", "--gres=gpu:1", "--comment=carbon_defer=1h"),
                units=UNITS,
            )
    finally:
        advice_file.unlink()
    fields = ["JobID", "Submit", "Eligible"]
    rig.wait_for(lambda: bool(rig.cluster.sacct(job_id, fields)), "sacct listing the job")
    (row,) = rig.cluster.sacct(job_id, fields)
    assert int(row["Submit"]) + LEAD_S <= valley  # the valley ahead, as planned
    for held in (shown_job(rig.cluster, job_id), shown_job(rig.cluster, auto_id)):
        assert (held["EligibleTime"], held["Reason"]) == (str(valley), "BeginTime")
    assert row["Eligible"] == str(valley)  # sacct agrees with scontrol
    whole = array_decision(rig, array_id, valley)
    pending = decisions_while_pending(rig, job_id, auto_id)
    assert pending.eligible_time == at(valley)
    assert (pending.forecast_source, pending.forecast_issued) == (
        "slurm_carbon:blend",
        at(now - 60),
    )
    assert time.time() < valley, "recorded while the job was pending"

    started = started_at(rig, job_id, valley)
    assert valley <= started <= valley + START_SLACK_S
    (ended,) = rig.cluster.wait_for_job(
        job_id, fields=("JobID", "State", "Start"), timeout_s=DEADLINE_S
    )
    assert (ended["State"], ended["Start"]) == ("COMPLETED", str(started))
    rig.wait_for(partial(measured, rig, job_id), "the deferral measured", DEADLINE_S)

    found = deferral_of(rig, job_id)
    assert found is not None
    assert found.asked_s == 3600
    assert found.submit_time == at(int(row["Submit"]))
    # The decision as first seen, left as it was by the settle.
    assert replace(found, measured_saving_g=None, measured_saving_pct=None) == pending
    assert found.measured_saving_pct == pytest.approx(80.0)
    assert found.measured_saving_g is not None
    assert found.measured_saving_g > 0
    tasks_inherit(rig, array_id, whole, valley)
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
