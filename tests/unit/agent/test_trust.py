"""The agent trusts only a root-only spool, and only small root-owned regular files in it.

Tests run as root, so "someone else's" is made with chown to nobody.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.agent import Agent
from slurm_carbon.agent.handoff import HANDOFF_MAX_BYTES, write_key_values
from slurm_carbon.agent.trust import check_spool
from slurm_carbon.cli.main import cli
from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.base import DomainKind
from slurm_carbon.sensors.fake import FakeGpuBackend
from tests.unit.agent.conftest import hand_off, outbox, total_j

MakeAgent = Callable[..., Agent]
NOBODY = 65534


class TenWatts:
    def energy_j(self, job_id: int, kind: DomainKind, start_s: float, end_s: float) -> float:
        return 10.0 * (end_s - start_s)


def measured_jobs(agent: Agent) -> set[int]:
    return {row.job_id for row in outbox(agent)}


def run_one_job(agent: Agent, spool: Path, job_id: int) -> None:
    """Tick over a job whose .start is already there, with a good .stop at 60 s."""
    agent.tick(0.0)
    hand_off(spool, job_id, "stop", 60.0)
    agent.tick(70.0)


# -- the spool itself ------------------------------------------------------------


def test_a_missing_spool_is_created_root_only(tmp_path: Path) -> None:
    check_spool(tmp_path / "spool")

    assert (tmp_path / "spool" / "jobs").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda s: os.chown(s, NOBODY, -1), "owned by uid 65534, not root"),
        (lambda s: os.chown(s / "jobs", NOBODY, -1), "jobs is owned by uid 65534, not root"),
        (lambda s: s.chmod(0o770), "writable by group or others (mode 770)"),
        (lambda s: (s / "jobs").chmod(0o703), "writable by group or others (mode 703)"),
        (lambda s: s.parent.chmod(0o777), "writable by group or others (mode 777)"),
        (lambda s: s.chmod(0o1777), "writable by group or others (mode 1777)"),
    ],
)
def test_a_spool_others_can_write_is_refused(
    tmp_path: Path, spoil: Callable[[Path], None], message: str
) -> None:
    spool = tmp_path / "parent" / "spool"
    check_spool(spool)
    spoil(spool)

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_spool(spool)


def test_a_sticky_world_writable_ancestor_is_fine_and_a_linked_jobs_dir_is_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent").chmod(0o1777)  # like /tmp
    spool = tmp_path / "parent" / "spool"
    check_spool(spool)
    (spool / "jobs").rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (spool / "jobs").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(ConfigError, match="jobs is not a directory"):
        check_spool(spool)


def test_agent_run_refuses_a_spool_not_owned_by_root_in_one_line(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc\n")
    token.chmod(0o600)
    spool = tmp_path / "spool"
    (spool / "jobs").mkdir(parents=True, mode=0o700)
    os.chown(spool, NOBODY, -1)
    result = CliRunner().invoke(
        cli,
        [
            "agent",
            "run",
            *("--spool", str(spool), "--state", str(tmp_path / "state")),
            *("--service-url", "http://127.0.0.1:9", "--token-file", str(token)),
            *("--cluster", "c", "--gpu-backend", "none", "--tdp-w", "100"),
        ],
    )

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: spool {spool} is owned by uid {NOBODY}, not root: chown root it"
    ]


# -- the files in it -------------------------------------------------------------


def test_a_symlinked_start_is_not_followed_and_its_name_is_logged_escaped(
    make_agent: MakeAgent, dirs: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool, _ = dirs
    agent = make_agent(cpu_estimate=TenWatts())
    agent.start()
    secret = tmp_path / "secret"
    secret.write_text("JOB_ID=5\nTIME=0\nroot:$6$hash\x1b[2J\n")
    (spool / "jobs" / "5.start").symlink_to(secret)

    run_one_job(agent, spool, 5)

    assert measured_jobs(agent) == set()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ignoring hand-off file 5.start: a symbolic link: not followed" in logged
    assert "root:$6$" not in logged


def test_a_fifo_start_cannot_hang_the_agent(make_agent: MakeAgent, dirs: tuple[Path, Path]) -> None:
    spool, _ = dirs
    agent = make_agent(cpu_estimate=TenWatts())
    agent.start()
    os.mkfifo(spool / "jobs" / "6.start", 0o600)
    hand_off(spool, 7, "start", 0.0)
    began = time.monotonic()

    run_one_job(agent, spool, 7)

    assert time.monotonic() - began < 5
    assert measured_jobs(agent) == {7}


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda p: os.chown(p, NOBODY, -1), "owned by uid 65534, not root"),
        (
            lambda p: p.write_text(p.read_text() + "#" * HANDOFF_MAX_BYTES),
            f"larger than {HANDOFF_MAX_BYTES} bytes",
        ),
        (lambda p: p.write_text(p.read_text().replace("JOB_ID=8", "JOB_ID=9")), "JOB_ID=9"),
        (lambda p: p.write_text("JOB_ID=8\nTIME=nan\n"), "TIME nan"),
    ],
)
def test_a_start_file_that_is_not_the_shims_is_refused(
    make_agent: MakeAgent,
    dirs: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
    spoil: Callable[[Path], None],
    reason: str,
) -> None:
    spool, _ = dirs
    agent = make_agent(cpu_estimate=TenWatts())
    hand_off(spool, 8, "start", 0.0)
    spoil(spool / "jobs" / "8.start")

    run_one_job(agent, spool, 8)

    assert measured_jobs(agent) == set()
    assert f"ignoring hand-off file 8.start: {reason}" in caplog.text


@pytest.mark.parametrize("job_id", ["0", "4294967295", "99999999999", "0x10"])
def test_job_ids_outside_slurms_range_are_ignored(
    make_agent: MakeAgent, dirs: tuple[Path, Path], job_id: str
) -> None:
    spool, _ = dirs
    agent = make_agent(cpu_estimate=TenWatts())
    write_key_values(spool / "jobs", f"{job_id}.start", {"JOB_ID": job_id, "TIME": "0"})
    hand_off(spool, 4294967293, "start", 0.0)  # Slurm's largest job id is still a job

    run_one_job(agent, spool, 4294967293)

    assert measured_jobs(agent) == {4294967293}


def test_a_gpu_range_no_node_has_is_refused_at_once_and_the_job_measured_without_it(
    make_agent: MakeAgent, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(2, power_mw=100_000)
    agent = make_agent(gpu_backend=backend, cpu_estimate=TenWatts())
    hand_off(spool, 3, "start", 0.0, gpus="0-30000000")
    began = time.monotonic()

    agent.tick(0.0)
    backend.advance(60.0)
    hand_off(spool, 3, "stop", 60.0)
    agent.tick(60.0)

    assert time.monotonic() - began < 5
    rows = outbox(agent)
    assert {r.device.kind for r in rows} == {"cpu", "dram"}
    assert total_j(rows, job_id=3) == pytest.approx(2 * 600.0)
    assert "job 3: GPU list 0-30000000 refused" in caplog.text


def test_a_gpu_the_node_lacks_is_left_out_and_logged_escaped(
    make_agent: MakeAgent, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(2, power_mw=100_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 4, "start", 0.0, gpus="1,7,GPU-\x1b[2Jx")

    agent.tick(0.0)
    backend.advance(60.0)
    hand_off(spool, 4, "stop", 60.0)
    agent.tick(60.0)

    rows = outbox(agent)
    assert {r.device.minor for r in rows} == {1}
    assert total_j(rows, job_id=4) == pytest.approx(6000.0)
    assert "job 4 holds GPU 7, which this node does not have" in caplog.text
    assert "GPU GPU-\\x1b[2Jx, which" in caplog.text
    assert "\x1b" not in caplog.text
