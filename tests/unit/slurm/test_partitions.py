"""The partitions Slurm knows: ``scontrol show partition -o`` as 22.05 printed it, and the fake."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from slurm_carbon.errors import SlurmError
from slurm_carbon.slurm import CommandLineSlurm, CommandResult, RecordedRunner
from slurm_carbon.slurm.fake import FakeSlurm

RECORDED = (
    Path(__file__).parents[2] / "fixtures" / "slurm" / "scontrol_show_partition.txt"
).read_text()


def client(result: CommandResult) -> tuple[CommandLineSlurm, RecordedRunner]:
    def answer(argv: Sequence[str]) -> CommandResult:
        return result

    runner = RecordedRunner(answer)
    return CommandLineSlurm(runner), runner


def test_the_recorded_cluster_has_one_partition() -> None:
    slurm, runner = client(CommandResult(0, RECORDED, ""))
    assert slurm.partitions() == ["debug"]
    assert runner.calls[0][0] == ["scontrol", "show", "partition", "-o"]


def test_several_partitions_in_slurms_order() -> None:
    second = RECORDED.replace("PartitionName=debug", "PartitionName=gpu-a100").replace(
        "Default=YES", "Default=NO"
    )
    slurm, _ = client(CommandResult(0, RECORDED + second, ""))
    assert slurm.partitions() == ["debug", "gpu-a100"]


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(1, "", "slurm_load_partitions: Unable to contact slurm controller"),
        CommandResult(0, "Nodes=vm State=UP\n", ""),
    ],
)
def test_a_failure_or_other_output_is_a_slurm_error(result: CommandResult) -> None:
    slurm, _ = client(result)
    with pytest.raises(SlurmError, match="scontrol show partition"):
        slurm.partitions()


def test_the_fake_lists_the_partitions_it_was_given() -> None:
    assert FakeSlurm(partitions=("gpu", "cpu")).partitions() == ["gpu", "cpu"]
    assert FakeSlurm().partitions() == []
