import shutil
from pathlib import Path

import pytest

from slurm_carbon.errors import ConfigError, SensorError
from slurm_carbon.sensors.base import DomainKind
from slurm_carbon.sensors.estimate import (
    DRAM_W_PER_GIB,
    CpuTimeReader,
    EstimatedCpuEnergy,
    codecarbon_tdp_table,
    cpu_model,
    lookup_tdp_w,
)
from tests.unit.sensors.conftest import FIXTURES

PROC = FIXTURES / "proc"
CGROUP = FIXTURES / "cgroup"
CPUINFO = PROC / "cpuinfo"


def _table(tmp_path: Path) -> Path:
    table = tmp_path / "cpu_power.csv"
    table.write_text(
        "Name,TDP\n"
        "Intel Xeon Gold 6248,150\n"
        "Intel Xeon Gold 6248R,205\n"
        "Intel Xeon Gold,999\n"
        "Intel Core i5-1230U,27.29.5\n"  # as in codecarbon's table: skipped
        "AMD EPYC 7742,225\n"
    )
    return table


def test_cpu_model_and_cores_per_package() -> None:
    assert cpu_model(CPUINFO) == ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 20)


def test_tdp_lookup_prefers_the_exact_name_over_prefixes(tmp_path: Path) -> None:
    table = _table(tmp_path)
    assert lookup_tdp_w("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", table) == 150
    assert lookup_tdp_w("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", table) == 205
    assert lookup_tdp_w("AMD EPYC 7742 64-Core Processor", table) == 225
    assert lookup_tdp_w("Apple M2", table) is None
    assert lookup_tdp_w("12th Gen Intel(R) Core(TM) i5-1230U", table) is None


def test_codecarbons_own_table_reads_past_its_malformed_row() -> None:
    assert lookup_tdp_w("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", codecarbon_tdp_table()) == 150


def test_proc_cpu_time_sums_the_jobs_processes_in_clock_ticks() -> None:
    reader = CpuTimeReader(cgroup_root=None, proc_root=PROC, clock_ticks=100)
    assert reader.cpu_time_s(42) == pytest.approx(6.1)
    assert reader.cpu_time_s(43) == pytest.approx(70.0)
    assert reader.cpu_time_s(44) is None
    assert reader.memory_gib(42) == pytest.approx(4.0)


def test_cgroup_v2_wins_where_the_job_has_a_cgroup() -> None:
    reader = CpuTimeReader(cgroup_root=CGROUP, proc_root=PROC, clock_ticks=100)
    assert reader.cpu_time_s(42) == pytest.approx(123.456789)
    assert reader.memory_gib(42) == pytest.approx(4.0)
    assert reader.cpu_time_s(43) == pytest.approx(70.0)  # no cgroup: /proc


def test_estimate_from_configured_tdp_between_two_readings(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(PROC, proc)
    reader = CpuTimeReader(cgroup_root=None, proc_root=proc, clock_ticks=100)
    estimate = EstimatedCpuEnergy(200.0, cpuinfo=CPUINFO, cpu_time=reader)
    assert estimate.tdp_per_core_w == pytest.approx(10.0)
    assert estimate.energy_j(42, DomainKind.CPU, 0.0, 10.0) == pytest.approx(61.0)
    (proc / "102" / "stat").write_text(
        (proc / "102" / "stat").read_text().replace(" 300 100 0 0 ", " 500 100 0 0 ")
    )
    assert estimate.energy_j(42, DomainKind.CPU, 10.0, 20.0) == pytest.approx(20.0)
    assert estimate.energy_j(42, DomainKind.DRAM, 10.0, 20.0) == pytest.approx(
        DRAM_W_PER_GIB * 4.0 * 10.0
    )
    shutil.rmtree(proc / "102")  # exited un-reaped: CPU time shrinks; never negative
    assert estimate.energy_j(42, DomainKind.CPU, 20.0, 30.0) == 0.0


def test_tdp_from_the_table_and_given_memory(tmp_path: Path) -> None:
    estimate = EstimatedCpuEnergy(
        tdp_table=_table(tmp_path),
        cpuinfo=CPUINFO,
        cpu_time=CpuTimeReader(cgroup_root=CGROUP, proc_root=PROC, clock_ticks=100),
        memory_gib=lambda job_id: 64.0,
    )
    assert estimate.tdp_per_core_w == pytest.approx(7.5)
    assert estimate.energy_j(42, DomainKind.CPU, 0, 60) == pytest.approx(7.5 * 123.456789)
    assert estimate.energy_j(42, DomainKind.DRAM, 0, 60) == pytest.approx(0.3725 * 64 * 60)


def test_no_tdp_is_a_config_error_saying_what_to_configure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the CPU's TDP"):
        EstimatedCpuEnergy(cpuinfo=CPUINFO)
    table = tmp_path / "t.csv"
    table.write_text("Name,TDP\nAMD EPYC 7742,225\n")
    with pytest.raises(ConfigError, match=r"Gold 6248 CPU @ 2\.50GHz' is not in"):
        EstimatedCpuEnergy(tdp_table=table, cpuinfo=CPUINFO)


def test_unknown_job_is_a_sensor_error() -> None:
    reader = CpuTimeReader(cgroup_root=None, proc_root=PROC, clock_ticks=100)
    estimate = EstimatedCpuEnergy(100.0, cpuinfo=CPUINFO, cpu_time=reader)
    with pytest.raises(SensorError, match="job 99: CPU time unknown"):
        estimate.energy_j(99, DomainKind.CPU, 0, 1)
    with pytest.raises(SensorError, match="job 99: memory unknown"):
        estimate.energy_j(99, DomainKind.DRAM, 0, 1)


def test_this_machine_can_read_its_own_process() -> None:
    reader = CpuTimeReader(cgroup_root=None)
    assert reader.cpu_time_s(123_456_789) is None
    assert cpu_model()[1] >= 1
