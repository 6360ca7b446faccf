"""deploy/slurm/job_submit.lua run by lua5.1 against a stand-in for slurmctld's ``slurm`` table."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "slurm" / "job_submit.lua"
LUA = shutil.which("lua5.1")

pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.1 is not installed (scripts/setup)")

# slurmctld's constants and log calls; each call prints "<call>: <formatted>" on stdout.
HARNESS = """
slurm = {SUCCESS = 0, ERROR = -1}
function slurm.log_info(fmt, ...) print("info: " .. string.format(fmt, ...)) end
function slurm.log_user(fmt, ...) print("user: " .. string.format(fmt, ...)) end
dofile(arg[1])
local comment = io.read("*a")
if comment == "" then comment = nil end
print("submit=" .. slurm_job_submit({comment = comment}, {}, 1000))
print("modify=" .. slurm_job_modify({comment = comment}, {job_id = 7}, {}, 1000))
"""


def run(comment: bytes, tmp_path: Path) -> list[str]:
    assert LUA is not None
    harness = tmp_path / "harness.lua"
    harness.write_text(HARNESS)
    result = subprocess.run(
        [LUA, str(harness), str(SCRIPT)],
        input=comment,
        capture_output=True,
        check=True,
        timeout=10,
    )
    return result.stdout.decode().splitlines()


@pytest.mark.parametrize(
    ("comment", "byte", "at"),
    [(b"x\x1fops-approved=yes", 0x1F, 2), (b"a\nb", 0x0A, 2), (b"\x1b[2J", 0x1B, 1)],
)
def test_a_comment_with_a_control_character_is_refused_on_submit_and_modify(
    comment: bytes, byte: int, at: int, tmp_path: Path
) -> None:
    lines = run(comment, tmp_path)

    assert "submit=-1" in lines
    assert "modify=-1" in lines
    said = f"user: slurm_carbon: the comment holds a control character (byte 0x{byte:02x} at {at})"
    assert sum(line.startswith(said) for line in lines) == 2
    # slurmctld's log gets the comment with its control characters escaped, on one line.
    logged = [line for line in lines if line.startswith("info: slurm_carbon: submit")]
    shown = comment.decode().replace(chr(byte), f"\\x{byte:02x}")
    assert logged == [f"info: slurm_carbon: submit uid=1000 comment={shown}"]


@pytest.mark.parametrize("comment", [b"carbon_budget=5kg", b"caf\xc3\xa9 | 50%", b""])
def test_printable_comments_and_none_are_accepted(comment: bytes, tmp_path: Path) -> None:
    lines = run(comment, tmp_path)

    assert "submit=0" in lines
    assert "modify=0" in lines
    assert not any(line.startswith("user:") for line in lines)
