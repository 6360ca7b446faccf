"""deploy/slurm/job_submit.lua run by lua5.1 against a stand-in for slurmctld's ``slurm`` table.

:func:`run_lua` runs a few lines of Lua between the stand-in (slurmctld's constants and
log calls, each call printing ``<call>: <formatted>``; the script loaded; the comment
read from stdin as ``comment``) and the submit and modify calls, whose return values
it prints as ``submit=<n>`` and ``modify=<n>``. :func:`submit_lua` submits one job
described in Lua at a fixed time, in UTC, with the advice files of a directory, and
prints the job's ``comment`` and (last) ``begin_time`` after the call. Tests that use
them are skipped when lua5.1 is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["assert_refused_on_submit_and_modify", "needs_lua", "run_lua", "submit_lua"]

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "slurm" / "job_submit.lua"
LUA = shutil.which("lua5.1")

needs_lua = pytest.mark.skipif(LUA is None, reason="lua5.1 is not installed (scripts/setup)")

_BEFORE = """
slurm = {SUCCESS = 0, ERROR = -1}
function slurm.log_info(fmt, ...) print("info: " .. string.format(fmt, ...)) end
function slurm.log_user(fmt, ...) print("user: " .. string.format(fmt, ...)) end
dofile(arg[1])
local comment = io.read("*a")
"""
_AFTER = """
print("submit=" .. slurm_job_submit({comment = comment}, {}, 1000))
print("modify=" .. slurm_job_modify({comment = comment}, {job_id = 7}, {}, 1000))
"""


_SUBMIT = """
ADVICE_DIR = {advice_dir}
os.time = function() return {now} end
local job = {job}
job.comment = comment
print("submit=" .. slurm_job_submit(job, {parts}, 1000))
print("comment=" .. tostring(job.comment))
print("begin_time=" .. tostring(job.begin_time))
"""
# The partitions slurmctld hands the script (22.05: keyed by name, flag_default 1 or 0).
DEFAULT_GPU = "{gpu = {flag_default = 1}, debug = {flag_default = 0}}"


def _lua(harness_text: str, comment: bytes | str, tmp_path: Path) -> list[str]:
    assert LUA is not None
    harness = tmp_path / "harness.lua"
    harness.write_text(harness_text)
    result = subprocess.run(
        [LUA, str(harness), str(SCRIPT)],
        input=comment.encode() if isinstance(comment, str) else comment,
        capture_output=True,
        check=True,
        timeout=10,
        env={**os.environ, "TZ": "UTC"},
    )
    return result.stdout.decode().splitlines()


def run_lua(body: str, comment: bytes | str, tmp_path: Path) -> list[str]:
    """The lines printed by ``body`` run between the stand-in and the two calls."""
    return _lua(_BEFORE + body + _AFTER, comment, tmp_path)


def submit_lua(
    job: str, comment: str, tmp_path: Path, *, now: int, advice_dir: Path, parts: str = DEFAULT_GPU
) -> list[str]:
    """The lines printed when the job (a Lua table constructor, without its comment) is
    submitted at ``now`` (epoch s, the clock in UTC) with the advice files of ``advice_dir``."""
    text = _SUBMIT.format(advice_dir=json.dumps(str(advice_dir)), now=now, job=job, parts=parts)
    return _lua(_BEFORE + text, comment, tmp_path)


def assert_refused_on_submit_and_modify(lines: list[str], message: str) -> None:
    """The refusal printed by the parser, then the one line sbatch shows, on both calls."""
    assert f"refused: {message}" in lines
    assert lines.count(f"user: slurm_carbon: {message}") == 2
    assert "submit=-1" in lines
    assert "modify=-1" in lines
