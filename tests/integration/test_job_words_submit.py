"""The capping words at sbatch on the real local cluster: job_submit.lua refuses or accepts.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration

REFUSED = "sbatch: error: Batch job submission failed: Unspecified error"


def sbatch(cluster: SlurmCluster, comment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sbatch", "--hold", f"--comment={comment}", "--wrap=true"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("comment", "said"),
    [
        (
            "carbon_profile=my/model",
            'sbatch: error: slurm_carbon: bad carbon_profile "carbon_profile=my/model":'
            ' not only letters, digits, ".", "_", "-"; write e.g.'
            ' carbon_profile=resnet50-imagenet (letters, digits, ".", "_", "-";'
            " at most 64 characters)",
        ),
        (
            "train carbon_cap=maybe",
            'sbatch: error: slurm_carbon: bad carbon_cap "carbon_cap=maybe":'
            " not carbon_cap=off or on; write e.g. carbon_cap=off (off or on)",
        ),
    ],
)
def test_a_malformed_word_is_refused_at_sbatch_with_one_line(
    slurm_cluster: SlurmCluster, comment: str, said: str
) -> None:
    refused = sbatch(slurm_cluster, comment)

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [said, REFUSED]


def test_good_words_are_accepted(slurm_cluster: SlurmCluster) -> None:
    job_id = slurm_cluster.sbatch(
        "--hold", "--comment=carbon_profile=resnet50-imagenet CARBON_CAP=off", "--wrap=true"
    )
    try:
        shown = slurm_cluster.run("squeue", "-h", "-j", job_id, "-o", "%k")
    finally:
        slurm_cluster.run("scancel", job_id)

    assert shown.strip() == "carbon_profile=resnet50-imagenet CARBON_CAP=off"
