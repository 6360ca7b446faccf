"""Jobs with hand-computed figures for the report tests (data only: no tests in here).

Every figure the tests expect is derived here by hand, next to the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from slurm_carbon.store import (
    CarbonIntensityPoint,
    JobResult,
    NewInterval,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing

NOW = datetime(2024, 3, 14, 18, 0, tzinfo=UTC)
DAY = datetime(2024, 3, 14, tzinfo=UTC)
KWH = 3_600_000.0


@dataclass(frozen=True)
class Spec:
    """One job: (slurm id, array id, task id, name, user, account, partition, state, end hour)."""

    slurm_job_id: int
    user: str
    account: str
    partition: str
    state: str
    end: datetime
    result: (
        tuple[float, float, float, float, float, str, str] | None
    )  # gpu, cpu, dram kWh, pue, co2e, quality, source
    name: str = "job"
    array: tuple[int, int] | None = None
    gpus: int = 1


SPECS = [
    # facility 1.6 kWh x 1.5 = 2.4 kWh
    Spec(100, "alice", "physics", "gpu", "COMPLETED", DAY + timedelta(hours=11),
         (1.0, 0.5, 0.1, 1.5, 600.0, "counter", "electricitymaps"), gpus=2),
    # facility 1.0 x 1.2 = 1.2; estimated, annual CI; waste
    Spec(101, "alice", "physics", "cpu", "FAILED", DAY + timedelta(hours=12),
         (0.0, 1.0, 0.0, 1.2, 100.0, "estimated", "codecarbon-annual"),
         name="train|v2 [x]", gpus=0),
    # facility 2.0 x 1.5 = 3.0; waste (CANCELLED by uid)
    Spec(102, "bob", "chemistry", "gpu", "CANCELLED by 1000", DAY + timedelta(hours=13),
         (2.0, 0.0, 0.0, 1.5, 900.0, "integrated", "electricitymaps")),
    # pending: no result
    Spec(103, "bob", "chemistry", "gpu", "COMPLETED", DAY + timedelta(hours=14), None),
    # array 200: tasks 1 and 2 (slurm ids 201, 202); facility 1.0 and 0.5
    Spec(201, "alice", "physics", "gpu", "COMPLETED", DAY + timedelta(hours=15),
         (1.0, 0.0, 0.0, 1.0, 400.0, "counter", "electricitymaps"), array=(200, 1)),
    Spec(202, "alice", "physics", "gpu", "TIMEOUT", DAY + timedelta(hours=16),
         (0.5, 0.0, 0.0, 1.0, 200.0, "counter", "electricitymaps"), array=(200, 2)),
    # February, outside the default window; waste; facility 0.1
    Spec(300, "carol", "bio", "cpu", "OUT_OF_MEMORY", datetime(2024, 2, 1, 9, tzinfo=UTC),
         (0.0, 0.1, 0.0, 1.0, 50.0, "counter", "electricitymaps"), gpus=0),
]  # fmt: skip

TOTAL_CO2E_G = 600 + 100 + 900 + 400 + 200 + 50
WASTE_CO2E_G = 100 + 900 + 200 + 50
TOTAL_FACILITY_KWH = 2.4 + 1.2 + 3.0 + 1.0 + 0.5 + 0.1


def seed(session: Session) -> dict[int, int]:
    """Store :data:`SPECS` (and intervals and CI points for job 100); return row ids by slurm id."""
    cluster = get_or_create_cluster(session, "tc")
    node = get_or_create_node(session, cluster.id, "gpu01")
    gpu = get_or_create_device(session, node.id, "GPU-1", kind=DeviceKind.GPU, minor=0)
    cpu = get_or_create_device(session, node.id, "intel-rapl:0", kind=DeviceKind.CPU)
    ids: dict[int, int] = {}
    for spec in SPECS:
        job = upsert_job(
            session,
            cluster.id,
            spec.slurm_job_id,
            array_job_id=spec.array[0] if spec.array else None,
            array_task_id=spec.array[1] if spec.array else None,
            name=spec.name,
            user_name=spec.user,
            account=spec.account,
            partition=spec.partition,
            start_time=spec.end - timedelta(hours=1),
            end_time=spec.end,
            state=spec.state,
            requested_gpus=spec.gpus,
        )
        ids[spec.slurm_job_id] = job.id
        if spec.result is not None:
            gpu_kwh, cpu_kwh, dram_kwh, pue, co2e_g, quality, source = spec.result
            session.add(
                JobResult(
                    job_id=job.id,
                    gpu_energy_j=gpu_kwh * KWH,
                    cpu_energy_j=cpu_kwh * KWH,
                    dram_energy_j=dram_kwh * KWH,
                    co2e_g=co2e_g,
                    ci_mean_g_per_kwh=250.0,
                    ci_region="FR",
                    ci_source=source,
                    # The writer flags a yearly mean; these sources are named after it.
                    ci_annual=source.endswith("-annual"),
                    pue=pue,
                    quality=EnergyMethod(quality),
                    sharing=Sharing.EXCLUSIVE,
                    computed_at=spec.end + timedelta(minutes=5),
                )
            )
    # Job 100 ran 10:00-11:00: two 30-minute intervals on its GPU and CPU.
    start = DAY + timedelta(hours=10)
    intervals = [
        NewInterval(ids[100], node.id, device, begin, begin + timedelta(minutes=30), energy_j,
                    EnergyMethod.COUNTER, Sharing.EXCLUSIVE)
        for begin in (start, start + timedelta(minutes=30))
        for device, energy_j in ((gpu.id, 1800.0 * 1000), (cpu.id, 900.0 * 1000))
    ]  # fmt: skip
    add_intervals(session, intervals)
    # FR: 200 g/kWh from 09:45, 300 from 10:30, 999 from 11:30, 50 from 12:30 to 14:30
    # (the last point lasts as long as the one before). SE: 20 g/kWh, 09:00 to 12:00.
    fr = [("FR", -15, 200.0), ("FR", 30, 300.0), ("FR", 90, 999.0), ("FR", 150, 50.0)]
    fr.append(("FR", 210, 50.0))
    se = [("SE", minutes, 20.0) for minutes in (-60, 0, 60)]
    for region, minutes, value in fr + se:
        time = start + timedelta(minutes=minutes)
        session.add(
            CarbonIntensityPoint(
                region=region,
                source="electricitymaps",
                time=time,
                ci_g_per_kwh=value,
                kind=CiKind.ACTUAL,
                signal=CiSignal.AVERAGE,
                issued_at=time,
            )
        )
    session.flush()
    return ids
