"""On the real cluster: each GPU interval carries its busy clock, each GPU its limit range.

A job without progress on a simulated GPU: the agent reads the GPU's utilization
and SM clock at every sample (the simulator's model: 100 % at
:data:`SIM_MAX_SM_CLOCK_MHZ` while the job's work runs at the highest limit, 0 %
before and after) and its limit range, and the service stores them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from slurm_carbon.sensors.profiles import synthetic_profile
from slurm_carbon.sensors.sim import SIM_MAX_SM_CLOCK_MHZ
from slurm_carbon.store import Device, EnergyInterval, make_engine, session_factory
from slurm_carbon.store.results import find_job
from tests.integration.conftest import Rig

pytestmark = pytest.mark.integration

#: The job's GPU intervals are stored seconds after it ends (5 s intervals, shipped at once).
DEADLINE_S = 90


def gpu_rows(rig: Rig, job_id: str) -> list[tuple[float | None, float | None, float | None]]:
    """(busy_clock_mhz, min_limit_w, max_limit_w) of each stored GPU interval of the job."""
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            if job is None:
                return []
            query = (
                select(EnergyInterval.busy_clock_mhz, Device.min_limit_w, Device.max_limit_w)
                .join(Device, Device.id == EnergyInterval.device_id)
                .where(EnergyInterval.job_id == job.id, Device.kind == "gpu")
                .order_by(EnergyInterval.interval_start)
            )
            return [(busy, low, high) for busy, low, high in session.execute(query)]
    finally:
        engine.dispose()


def test_a_jobs_gpu_intervals_carry_the_busy_clock_and_the_gpu_its_range(rig: Rig) -> None:
    job_id = rig.submit_work("--gres=gpu:1", units=12)
    rig.cluster.wait_for_job(job_id, fields=("JobID", "State", "ReqTRES"), filled=["ReqTRES"])
    rig.wait_for(
        lambda: bool(gpu_rows(rig, job_id)) and not rig.agent_holds(job_id),
        f"job {job_id}'s GPU intervals stored",
        DEADLINE_S,
    )

    rows = gpu_rows(rig, job_id)
    profile = synthetic_profile()
    assert {(low, high) for _, low, high in rows} == {(profile.min_limit_w, profile.max_limit_w)}
    busy = [mhz for mhz, _, _ in rows]
    assert all(mhz is not None and 0 <= mhz <= SIM_MAX_SM_CLOCK_MHZ + 1e-6 for mhz in busy)
    # 12 s of work in 5 s intervals: at least one interval is all work, at the top clock.
    assert max(mhz for mhz in busy if mhz is not None) == pytest.approx(SIM_MAX_SM_CLOCK_MHZ)
