"""What the submit-time advice adds to ``job_submit.lua``'s ``slurm_job_submit``.

One lua5.1 process loads ``deploy/slurm/job_submit.lua`` as the unit tests' harness
does (``tests/unit/slurm/lua_harness.py``: a stand-in ``slurm`` table, ``dofile``), with
``ADVICE_DIR`` a temporary directory holding a fresh advice file for partition ``gpu``
(the largest series, 192 values of 15 min, clean in its second day, so the hint is
found and formatted, every candidate start searched). It checks once what each case
tells the user, then times ``--runs`` submissions of a 24 h job in each case, one after
the other in the same process (CPU time, ``os.clock``):

- ``hint``: the advice file read, parsed and searched for the hint;
- ``defer``: ``carbon_defer=7d``, the longest search, and the begin time set;
- ``no file``: a partition without an advice file;
- ``off``: ``carbon_advice=off``, the advice disabled (the baseline).

``slurm.log_user`` formats its line, as slurmctld does; ``slurm.log_info`` does nothing.

Usage: .venv/bin/python benchmarks/job_submit_lua.py [--runs 20000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from slurm_carbon.forecast.advice import Advice, format_advice

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deploy" / "slurm" / "job_submit.lua"
#: The most values a file holds (ADVICE_MAX_POINTS): 48 h at 15 min.
POINTS = 192
STEP_S = 900
#: Done-when of issue 12: the advice adds less than this to a submission.
TARGET_MS = 1.0
CASES = {
    "hint": ("gpu", ""),
    "defer": ("gpu", "carbon_defer=7d"),
    "no file": ("cpu", ""),
    "off": ("gpu", "carbon_advice=off"),
}

_HARNESS = """
slurm = {SUCCESS = 0, ERROR = -1}
function slurm.log_info(fmt, ...) end
local said = nil
function slurm.log_user(fmt, ...) said = string.format(fmt, ...) end
dofile(arg[1])
ADVICE_DIR = %(advice_dir)s
local parts = {gpu = {flag_default = 1}}
-- Each case once, untimed: what it told the user and the begin time it set.
for _, case in ipairs(%(cases)s) do
   said = nil
   local job = {partition = case[2], time_limit = 1440, comment = case[3]}
   slurm_job_submit(job, parts, 1000)
   print("said " .. case[1] .. "=" .. tostring(said) .. " begin_time=" .. tostring(job.begin_time))
end
local function timed(partition, comment, runs)
   local began = os.clock()
   for _ = 1, runs do
      local job = {partition = partition, time_limit = 1440, comment = comment}
      slurm_job_submit(job, parts, 1000)
   end
   return (os.clock() - began) / runs
end
for _, case in ipairs(%(cases)s) do
   print(case[1] .. "=" .. string.format("%%.9f", timed(case[2], case[3], %(runs)d)))
end
"""


def advice_text(now: int) -> str:
    """A fresh file: 400 g/kWh for a day, then 100 (a 24 h job is best started a day later)."""
    start = now - now % STEP_S
    ci = tuple(400.0 if k < POINTS // 2 else 100.0 for k in range(POINTS))
    advice = Advice(now, "gpu", "DE", "slurm_carbon:blend", now, True, 10.0, 43_200,
                    STEP_S, start, ci)  # fmt: skip
    return format_advice(advice)


def main() -> None:
    """Run the four cases ``--runs`` times each and print the cost per submission."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20_000)
    args = parser.parse_args()
    lua = shutil.which("lua5.1")
    if lua is None:
        raise SystemExit("lua5.1 is not installed (scripts/setup)")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "gpu.advice").write_text(advice_text(int(time.time())))
        cases = (
            "{"
            + ", ".join(
                f"{{{json.dumps(name)}, {json.dumps(part)}, {json.dumps(comment)}}}"
                for name, (part, comment) in CASES.items()
            )
            + "}"
        )
        harness = Path(tmp) / "harness.lua"
        harness.write_text(
            _HARNESS % {"advice_dir": json.dumps(tmp), "cases": cases, "runs": args.runs}
        )
        result = subprocess.run(
            [lua, str(harness), str(SCRIPT)], capture_output=True, text=True, check=True
        )
    lines = result.stdout.splitlines()
    said = [line for line in lines if line.startswith("said ")]
    print("\n".join(said))
    if "carbon: starting at" not in said[0] or "carbon: deferred to" not in said[1]:
        raise SystemExit("the hint or the deferral was not given: nothing to time")
    cost_s = dict(line.rsplit("=", 1) for line in lines if not line.startswith("said "))
    base = float(cost_s["off"])
    print(f"job_submit.lua, {args.runs} submissions per case (lua5.1, CPU time):")
    for name in CASES:
        each = float(cost_s[name])
        print(
            f"  {name:<8} {1e3 * each:8.4f} ms per submission"
            f"  (x{each / base:.1f} of off; {1e3 * (each - base):+.4f} ms)"
        )
    added_ms = 1e3 * (max(float(cost_s[name]) for name in CASES) - base)
    verdict = "below" if added_ms < TARGET_MS else "NOT below"
    print(f"most added by the advice: {added_ms:.4f} ms, {verdict} the {TARGET_MS:g} ms target")


if __name__ == "__main__":
    main()
