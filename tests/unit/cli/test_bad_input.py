"""Hostile values for every ``slurm-carbon`` command's options: one line, exit 1 or 2, no traceback.

``progress`` runs inside job scripts, which it must never fail: its bad values
are one line too, but exit 0 (``exit_0``).

A catalogue: each case names the command, the bad value and a fragment the error
must hold (the option or the value). Cases run in-process with click's runner
(so that a NUL can be passed); commands that would run for good if a bad value
got through (``service``, ``agent run``) run as a child with a deadline instead.
Nothing here needs Slurm: ``PATH`` holds no Slurm command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report_format import LIST_MAX
from slurm_carbon.config import CONFIG_MAX_BYTES
from slurm_carbon.store import upgrade

#: Beyond Python's int-parsing limit (4,300 digits).
HUGE = "9" * 5000
#: Just beyond Slurm's uint32 job ids, and beyond the store's signed BIGINT.
UINT32_PLUS_1 = str(2**32)
BIGINT_PLUS_1 = str(2**63)
ESC = "\x1b]0;owned\x07\x1b[2J"
#: Seconds a child running a long-lived command may take to refuse its options.
CHILD_DEADLINE_S = 60


@dataclass(frozen=True)
class Case:
    """Arguments (``{tmp}`` stands for the test's directory) and what the error must name."""

    args: tuple[str, ...]
    names: str
    child: bool = False
    exit_0: bool = False


def case(id_: str, *args: str, names: str, child: bool = False, exit_0: bool = False) -> object:
    return pytest.param(Case(args, names, child, exit_0), id=id_)


R = ("report", "--url", "sqlite:///{tmp}/db.sqlite")
TIMES = {
    "days-3e6-ago": "now-3000000days",
    "1e10-days-ahead": "now+9999999999days",
    "1e23-weeks-ago": "now-99999999999999999999999weeks",
    "1e6-weeks-ago": "now-1000000weeks",
    "huge-offset": "now-" + HUGE,
    "year-99999": "99999-01-01",
    "year-0": "0000-01-01",
    "year-1": "0001-01-01",
    "year-9999-end": "9999-12-31T23:59:59",
    "before-1970": "1969-12-31",
    "empty": "",
    "blank": " ",
    "nul": "2024-01-01\x00",
    "escape": ESC,
    "feb-30": "2024-02-30",
    "hour-25": "25:00",
    "month-13": "13/45",
    "unit-fortnight": "now-1fortnight",
    "arabic-digits": "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661",  # 2024-01-01
}
REPORT_TIMES = [
    case(f"report-{flag}-{name}", *R, flag, value, names="time")
    for flag in ("-S", "-E")
    for name, value in TIMES.items()
]
REPORT_JOBS = [
    case(f"report-j-{name}", *R, "-j", value, names=shown)
    for name, value, shown in [
        ("bigint-plus-1", BIGINT_PLUS_1, BIGINT_PLUS_1),
        ("uint32-plus-1", UINT32_PLUS_1, UINT32_PLUS_1),
        ("task-uint32-plus-1", f"1_{UINT32_PLUS_1}", UINT32_PLUS_1),
        ("task-bigint-plus-1", f"1_{BIGINT_PLUS_1}", BIGINT_PLUS_1),
        ("huge", HUGE, "9999"),
        ("huge-task", f"1_{HUGE}", "1_9999"),
        ("het-offset-uint32-plus-1", f"1+{UINT32_PLUS_1}", UINT32_PLUS_1),
        ("het-and-task", "1_2+3", "1_2+3"),
        ("trailing-plus", "12+", "12+"),
        ("negative", "-1", "'-1'"),
        ("empty", "", "no job id"),
        ("commas", ",", "no job id"),
        ("arabic-digits", "\u0661\u0662", "job id"),  # 12
        ("step", "12.batch", "12.batch"),
        ("trailing-underscore", "12_", "12_"),
        ("leading-underscore", "_1", "_1"),
        ("nul", "1\x00", r"\x00"),
        ("escape", ESC, r"\x1b"),
        ("space-inside", "1 2", "1 2"),
        ("hex", "0x10", "0x10"),
        ("plus", "+1", "+1"),
        ("too-many", ",".join(str(i) for i in range(LIST_MAX + 1)), f"at most {LIST_MAX:,}"),
    ]
]
REPORT_NAMES = [
    case(f"report-{flag}-{name}", *R, flag, value, names=shown)
    for flag, what in (("-u", "user"), ("-A", "account"), ("-r", "partition"))
    for name, value, shown in [
        ("empty", "", f"no {what}"),
        ("commas", ",,", f"no {what}"),
        ("nul", "alice\x00", r"alice\x00"),
        ("escape", ESC, r"\x1b]0;owned\x07"),
        ("too-many", ",".join(f"n{i}" for i in range(LIST_MAX + 1)), f"at most {LIST_MAX:,}"),
    ]
]
REPORT_OTHER = [
    case("report-s-empty", *R, "-s", "", names="job state"),
    case("report-s-unknown", *R, "-s", "DONE", names="'DONE'"),
    case("report-s-nul", *R, "-s", "CD\x00", names=r"CD\x00"),
    case("report-s-escape", *R, "-s", ESC, names=r"\x1b]0;owned"),
    case("report-start-after-end", *R, "-S", "2024-03-14", "-E", "2024-03-01", names="after"),
    case("report-by-unknown", *R, "--by", "node", names="--by"),
    case("report-config-deep", *R, "--config", "{tmp}/deep.toml", names="nested too deeply"),
    case("report-config-large", *R, "--config", "{tmp}/large.toml", names="larger than"),
    case("report-config-dev-zero", *R, "--config", "/dev/zero", names="not a regular file"),
    case("report-config-fifo", *R, "--config", "{tmp}/fifo", names="not a regular file"),
    case("report-config-directory", *R, "--config", "{tmp}", names="--config"),
    case("report-config-missing", *R, "--config", "{tmp}/absent.toml", names="absent.toml"),
    case("report-config-latin1", *R, "--config", "{tmp}/latin1.toml", names="not UTF-8"),
    case("report-config-nul", *R, "--config", "{tmp}/nul.toml", names="invalid TOML"),
    case("report-url-empty", "report", "--url", "", names="database"),
    case("report-url-garbage", "report", "--url", "nope", names="database"),
    case("report-url-no-dir", "report", "--url", "sqlite:////nonexistent/x/y.db", names="database"),
    case("report-url-foreign-driver", "report", "--url", "mysql://x/y", names="database"),
    case("report-url-nul", "report", "--url", "sqlite:///\x00", names="database"),
    case("report-service-url-ftp", "report", "--service-url", "ftp://x/", names="http(s) URL"),
    case("report-service-url-garbage", "report", "--service-url", "nope", names="http(s) URL"),
    case("report-service-url-nul", "report", "--service-url", "http://x\x00/", names="http(s)"),
    case("report-service-url-empty", "report", "--service-url", "", names="http(s) URL"),
]
D = ("--url", "sqlite:///{tmp}/db.sqlite")
DM = ("db", "maintain", *D, "--config")
TOKENS = [
    case(f"token-{verb}-{flag[2:]}-{name}", "token", verb, *D, *other, flag, value, names=flag)
    for verb in ("issue", "revoke")
    for flag, other in (("--node", ("--cluster", "c")), ("--cluster", ("--node", "n")))
    for name, value in [("empty", ""), ("nul", "n\x00"), ("escape", ESC), ("long", "n" * 256)]
]
INTENSITY = [
    case("intensity-show-start-huge", "intensity", "show", *D, "--region", "SE", "--start", HUGE,
         names="--start"),
    case("intensity-show-start-year-0", "intensity", "show", *D, "--region", "SE", "--start",
         "0000-01-01", names="--start"),
    case("intensity-show-start-nan", "intensity", "show", *D, "--region", "SE", "--start", "nan",
         names="--start"),
    case("intensity-show-end-overflow", "intensity", "show", *D, "--region", "SE", "--end",
         "9999-12-31T23:59:59-01:00", names="--end"),
    case("intensity-annual-nul", "intensity", "annual", "SE\x00", names=r"SE\x00"),
    case("intensity-annual-empty", "intensity", "annual", "", names="''"),
    case("intensity-annual-escape", "intensity", "annual", ESC, names=r"\x1b"),
]  # fmt: skip
S = ("--dir", "{tmp}/sim")
F = ("evaluate", "forecast", "--trace")
FS = ("evaluate", "forecast", "--stored", "--url", "sqlite:///{tmp}/db.sqlite")
EVALUATE_FORECAST = [
    case("evaluate-forecast-trace-missing", *F, "{tmp}/nope.csv", names="nope.csv"),
    case("evaluate-forecast-trace-directory", *F, "{tmp}", names="--trace"),
    case("evaluate-forecast-trace-fifo", *F, "{tmp}/fifo", names="fifo"),
    case("evaluate-forecast-trace-nul", *F, "a\x00", names=r"a\x00"),
    case("evaluate-forecast-trace-field", *F, "{tmp}/longfield.csv", names="longfield.csv"),
    case("evaluate-forecast-trace-toml", *F, "{tmp}/large.toml", names="large.toml"),
    case("evaluate-forecast-horizons-huge", *F, "{tmp}/longfield.csv", "--horizons", HUGE,
         names="--horizons"),
    case("evaluate-forecast-horizons-empty", *F, "{tmp}/longfield.csv", "--horizons", "",
         names="--horizons"),
    case("evaluate-forecast-horizons-escape", *F, "{tmp}/longfield.csv", "--horizons", ESC,
         names="--horizons"),
    case("evaluate-forecast-horizons-negative", *F, "{tmp}/longfield.csv", "--horizons", "-1h",
         names="--horizons"),
    case("evaluate-forecast-warmup-nan", *F, "{tmp}/longfield.csv", "--warmup", "nan",
         names="--warmup"),
    case("evaluate-forecast-warmup-huge", *F, "{tmp}/longfield.csv", "--warmup", HUGE,
         names="--warmup"),
    case("evaluate-forecast-stored-and-trace", *FS, "--region", "GB", "--trace",
         "{tmp}/longfield.csv", names="not both"),
    case("evaluate-forecast-stored-no-region", *FS, names="--region"),
    case("evaluate-forecast-stored-region-escape", *FS, "--region", ESC, names="--region"),
    case("evaluate-forecast-stored-region-huge", *FS, "--region", HUGE, names="--region"),
    case("evaluate-forecast-stored-region-unknown", *FS, "--region", "XX", names="'XX'"),
]  # fmt: skip
SIM = [
    case("sim-init-gpus-huge", "sim", "init", "--dir", "{tmp}/s2", "--gpus", "100000000",
         names="--gpus"),
    case("sim-init-gpus-digits", "sim", "init", "--dir", "{tmp}/s2", "--gpus", HUGE,
         names="--gpus"),
    case("sim-init-gpus-zero", "sim", "init", "--dir", "{tmp}/s2", "--gpus", "0", names="--gpus"),
    case("sim-init-profile-field", "sim", "init", "--dir", "{tmp}/s2", "--profile",
         "{tmp}/longfield.csv", names="longfield.csv"),
    case("sim-init-profile-missing", "sim", "init", "--dir", "{tmp}/s2", "--profile",
         "{tmp}/absent.csv", names="absent.csv"),
    case("sim-init-profile-directory", "sim", "init", "--dir", "{tmp}/s2", "--profile", "{tmp}",
         names="--profile"),
    case("sim-init-dir-is-a-file", "sim", "init", "--dir", "{tmp}/deep.toml", names="deep.toml"),
    case("sim-init-workload-and-flag", "sim", "init", "--dir", "{tmp}/s2", "--workload", "a/b",
         "--dataset", "a", names="--workload or --dataset"),
    case("sim-work-units-nan", "sim", "work", *S, "--gpus", "0", "--units", "nan",
         names="--units"),
    case("sim-work-units-inf", "sim", "work", *S, "--gpus", "0", "--units", "inf",
         names="--units"),
    case("sim-work-units-huge", "sim", "work", *S, "--gpus", "0", "--units", "1e308",
         names="--units"),
    case("sim-work-units-zero", "sim", "work", *S, "--gpus", "0", "--units", "0", names="--units"),
    case("sim-work-units-negative", "sim", "work", *S, "--gpus", "0", "--units", "-1",
         names="--units"),
    case("sim-work-gpus-digits", "sim", "work", *S, "--gpus", HUGE, "--units", "1",
         names="--gpus"),
    case("sim-work-gpus-word", "sim", "work", *S, "--gpus", "x", "--units", "1", names="--gpus"),
    case("sim-work-gpus-absent", "sim", "work", *S, "--gpus", "7", "--units", "1", names="[7]"),
    case("sim-work-tick-nan", "sim", "work", *S, "--gpus", "0", "--units", "1", "--tick", "nan",
         names="--tick"),
    case("sim-work-tick-inf", "sim", "work", *S, "--gpus", "0", "--units", "1", "--tick", "inf",
         names="--tick"),
    case("sim-status-no-dir", "sim", "status", "--dir", "{tmp}/absent", names="absent"),
]  # fmt: skip
C = ("agent", "set-cap", "--socket", "{tmp}/agent.sock")
SET_CAP = [
    case("set-cap-job-bigint", *C, "--job", BIGINT_PLUS_1, "--gpu", "0", "--watts", "100",
         names="--job"),
    case("set-cap-job-uint32", *C, "--job", UINT32_PLUS_1, "--gpu", "0", "--watts", "100",
         names="--job"),
    case("set-cap-job-digits", *C, "--job", HUGE, "--gpu", "0", "--watts", "100", names="--job"),
    case("set-cap-job-zero", *C, "--job", "0", "--gpu", "0", "--watts", "100", names="--job"),
    case("set-cap-watts-nan", *C, "--job", "1", "--gpu", "0", "--watts", "nan", names="--watts"),
    case("set-cap-watts-inf", *C, "--job", "1", "--gpu", "0", "--watts", "inf", names="--watts"),
    case("set-cap-watts-zero", *C, "--job", "1", "--gpu", "0", "--watts", "0", names="--watts"),
    case("set-cap-gpu-nul", *C, "--job", "1", "--gpu", "0\x00", "--watts", "100", names="--gpu"),
    case("set-cap-gpu-empty", *C, "--job", "1", "--gpu", "", "--watts", "100", names="--gpu"),
    case("set-cap-gpu-digits", *C, "--job", "1", "--gpu", HUGE, "--watts", "100", names="--gpu"),
]  # fmt: skip
A = ("agent", "run", "--spool", "{tmp}/spool", "--state", "{tmp}/state", "--service-url",
     "http://127.0.0.1:9", "--token-file", "{tmp}/token", "--cluster", "c", "--node", "n",
     "--gpu-backend", "none", "--tdp-w", "100")  # fmt: skip
AGENT_RUN = [
    case(f"agent-run-{flag[2:]}-{value}", *A, flag, value, names=flag, child=True)
    for flag in ("--sample-s", "--interval-s", "--tdp-w")
    for value in ("nan", "inf")
] + [
    case("agent-run-cluster-escape", *A, "--cluster", ESC, names="--cluster", child=True),
    case("agent-run-cluster-empty", *A, "--cluster", "", names="--cluster", child=True),
    case("agent-run-node-escape", *A, "--node", ESC, names="--node", child=True),
    case("agent-run-token-directory", *A, "--token-file", "{tmp}", names="--token-file",
         child=True),
    case("agent-run-token-missing", *A, "--token-file", "{tmp}/absent", names="token file",
         child=True),
    case("agent-run-state-unwritable", *A, "--state", "/proc/slurm-carbon", names="/proc",
         child=True),
] + [
    case(f"agent-run-metrics-port-{name}", *A, "--metrics-port", value, names="--metrics-port",
         child=True)
    for name, value in {"negative": "-1", "65536": "65536", "text": "http",
                        "huge": HUGE}.items()
]  # fmt: skip
W = ("writer", *D, "--spool", "{tmp}/spool", "--once")
WRITER = [
    case("writer-log-level", *W, "--region", "SE", "--log-level", "LOUD", names="--log-level"),
    case("writer-pue-nan", *W, "--region", "SE", "--pue", "nan", names="--pue"),
    case("writer-pue-inf", *W, "--region", "SE", "--pue", "inf", names="--pue"),
    case("writer-settle-nan", *W, "--region", "SE", "--settle-delay-s", "nan",
         names="--settle-delay-s"),
    case("writer-settle-inf", *W, "--region", "SE", "--settle-delay-s", "inf",
         names="--settle-delay-s"),
    case("writer-poll-nan", *W, "--region", "SE", "--poll-s", "nan", names="--poll-s"),
    case("writer-sweep-inf", *W, "--region", "SE", "--sweep-s", "inf", names="--sweep-s"),
    case("writer-region-nul", *W, "--region", "SE\x00", names="--region"),
    case("writer-region-empty", *W, "--region", "", names="--region"),
    case("writer-config-deep", *W, "--config", "{tmp}/deep.toml", names="nested too deeply"),
    case("writer-config-dev-zero", *W, "--config", "/dev/zero", names="not a regular file"),
]  # fmt: skip
V = ("service", *D)
SERVICE = [
    case("service-port-negative", *V, "--port", "-1", names="--port", child=True),
    case("service-port-65536", *V, "--port", "65536", names="--port", child=True),
    case("service-port-digits", *V, "--port", HUGE, names="--port", child=True),
    case("service-workers-zero", *V, "--workers", "0", names="--workers", child=True),
    case("service-workers-digits", *V, "--workers", HUGE, names="--workers", child=True),
    case("service-host-escape", *V, "--host", ESC, names="--host", child=True),
    case("service-config-deep", *V, "--config", "{tmp}/deep.toml", names="nested too deeply",
         child=True),
    case("service-config-dev-zero", *V, "--config", "/dev/zero", names="not a regular file",
         child=True),
]  # fmt: skip
M = ("demo", *D, "--work-dir", "{tmp}/work", "--spool", "{tmp}/spool")
DEMO = [
    case("demo-pue-nan", *M, "--pue", "nan", names="--pue"),
    case("demo-pue-inf", *M, "--pue", "inf", names="--pue"),
    case("demo-timeout-nan", *M, "--timeout", "nan", names="--timeout"),
    case("demo-timeout-inf", *M, "--timeout", "inf", names="--timeout"),
    case("demo-timeout-negative", *M, "--timeout", "-1", names="--timeout"),
    case("demo-region-nul", *M, "--region", "SE\x00", names="--region"),
    case("demo-region-empty", *M, "--region", "", names="--region"),
]
DB = [
    case("db-upgrade-url-garbage", "db", "upgrade", "--url", "nope", names="database URL"),
    case("db-upgrade-url-nul", "db", "upgrade", "--url", "sqlite:///\x00", names="database URL"),
    case("db-upgrade-revision-unknown", "db", "upgrade", *D, "--revision", "zzz", names="zzz"),
    case("db-upgrade-revision-nul", "db", "upgrade", *D, "--revision", "\x00", names="revision"),
    case("db-upgrade-url-proc", "db", "upgrade", "--url", "sqlite:////proc/x/y.db", names="/proc"),
    case("db-maintain-no-config", "db", "maintain", *D, names="--config"),
    case("db-maintain-config-missing", *DM, "{tmp}/absent.toml", names="absent.toml"),
    case("db-maintain-config-dev-zero", *DM, "/dev/zero", names="not a regular file"),
    case("db-maintain-config-deep", *DM, "{tmp}/deep.toml", names="nested too deeply"),
]
J = ("evaluate", "job-energy")
EVALUATE_JOB_ENERGY = [
    case("evaluate-job-energy-profile-missing", *J, "--profile", "{tmp}/nope.csv",
         names="nope.csv"),
    case("evaluate-job-energy-profile-directory", *J, "--profile", "{tmp}",
         names="not a regular file"),
    case("evaluate-job-energy-profile-fifo", *J, "--profile", "{tmp}/fifo", names="fifo"),
    case("evaluate-job-energy-profile-field", *J, "--profile", "{tmp}/longfield.csv",
         names="longfield.csv"),
    case("evaluate-job-energy-profile-nul", *J, "--profile", "a\x00", names=r"a\x00"),
    case("evaluate-job-energy-jobs-zero", *J, "--profile", "{tmp}/fifo", "--jobs", "0",
         names="--jobs"),
    case("evaluate-job-energy-jobs-huge", *J, "--profile", "{tmp}/fifo", "--jobs", HUGE,
         names="--jobs"),
    case("evaluate-job-energy-seed-negative", *J, "--profile", "{tmp}/fifo", "--seed", "-1",
         names="--seed"),
    case("evaluate-job-energy-network-alone", *J, "--profile", "{tmp}/fifo", "--network", "b",
         names="needs --dataset and --network"),
    case("evaluate-job-energy-batch-size-zero", *J, "--profile", "{tmp}/fifo",
         "--batch-size", "0", names="--batch-size"),
]  # fmt: skip
EC = ("evaluate", "control", "--profile", "{tmp}/plain.csv", "--trace", "{tmp}/trace.csv")
EVALUATE_CONTROL = [
    case("evaluate-control-profile-missing", "evaluate", "control", "--profile",
         "{tmp}/nope.csv", "--trace", "{tmp}/trace.csv", names="nope.csv"),
    case("evaluate-control-profile-fifo", "evaluate", "control", "--profile", "{tmp}/fifo",
         "--trace", "{tmp}/trace.csv", names="fifo"),
    case("evaluate-control-trace-fifo", "evaluate", "control", "--profile", "{tmp}/plain.csv",
         "--trace", "{tmp}/fifo", names="fifo"),
    case("evaluate-control-trace-nul", "evaluate", "control", "--profile", "{tmp}/plain.csv",
         "--trace", "a\x00", names=r"a\x00"),
    case("evaluate-control-trace-field", "evaluate", "control", "--profile", "{tmp}/plain.csv",
         "--trace", "{tmp}/longfield.csv", names="longfield.csv"),
    case("evaluate-control-trace-short", *EC, names="shorter than"),
    case("evaluate-control-slowdown-nan", *EC, "--max-slowdown", "nan", names="--max-slowdown"),
    case("evaluate-control-slowdown-big", *EC, "--max-slowdown", "0.5", names="--max-slowdown"),
    case("evaluate-control-job-hours-zero", *EC, "--job-hours", "0", names="--job-hours"),
    case("evaluate-control-job-hours-huge", *EC, "--job-hours", HUGE, names="--job-hours"),
    case("evaluate-control-period-escape", *EC, "--period", ESC, names="--period"),
    case("evaluate-control-workload-and-flag", *EC, "--workload", "a/b", "--optimizer", "adam",
         names="--workload or --optimizer"),
    case("evaluate-control-dataset-slash", *EC, "--dataset", "a/b", names="--dataset"),
    case("evaluate-control-period-short", *EC, "--period", "1m", names="--period"),
    case("evaluate-control-start-every-huge", *EC, "--start-every", HUGE, names="--start-every"),
    case("evaluate-control-overhead-negative", *EC, "--node-overhead-w", "-1",
         names="--node-overhead-w"),
    case("evaluate-control-overhead-inf", *EC, "--node-overhead-w", "inf",
         names="--node-overhead-w"),
    case("evaluate-control-known-hours-beyond-horizon", *EC, "--known-hours", "49",
         names="--known-hours"),
    case("evaluate-control-known-hours-nan", *EC, "--known-hours", "nan",
         names="--known-hours"),
    case("evaluate-control-decisions-fifo", *EC, "--decisions", "{tmp}/fifo", names="fifo"),
    case("evaluate-control-decisions-directory", *EC, "--decisions", "{tmp}",
         names="--decisions"),
    case("evaluate-control-decisions-nul", *EC, "--decisions", "a\x00", names="--decisions"),
]  # fmt: skip
EA = ("evaluate", "advice", "--trace", "{tmp}/trace.csv")
EVALUATE_ADVICE = [
    case("evaluate-advice-trace-fifo", "evaluate", "advice", "--trace", "{tmp}/fifo",
         names="fifo"),
    case("evaluate-advice-trace-nul", "evaluate", "advice", "--trace", "a\x00", names=r"a\x00"),
    case("evaluate-advice-trace-field", "evaluate", "advice", "--trace", "{tmp}/longfield.csv",
         names="longfield.csv"),
    case("evaluate-advice-trace-short", *EA, names="no job of 1 h fits"),
    case("evaluate-advice-job-hours-zero", *EA, "--job-hours", "0", names="--job-hours"),
    case("evaluate-advice-job-hours-beyond", *EA, "--job-hours", "1,49", names="--job-hours"),
    case("evaluate-advice-job-hours-nan", *EA, "--job-hours", "nan", names="--job-hours"),
    case("evaluate-advice-job-hours-empty", *EA, "--job-hours", "1,,4", names="--job-hours"),
    case("evaluate-advice-job-hours-escape", *EA, "--job-hours", ESC, names="--job-hours"),
    case("evaluate-advice-job-hours-many", *EA, "--job-hours", ",".join(["1"] * 17),
         names="--job-hours"),
    case("evaluate-advice-within-beyond", *EA, "--within", "169", names="--within"),
    case("evaluate-advice-within-inf", *EA, "--within", "inf", names="--within"),
    case("evaluate-advice-decisions-fifo", *EA, "--decisions", "{tmp}/fifo", names="fifo"),
    case("evaluate-advice-decisions-directory", *EA, "--decisions", "{tmp}",
         names="--decisions"),
]  # fmt: skip
PROGRESS = [
    case("progress-above-1", "progress", "1.5", names="1.5", exit_0=True),
    case("progress-nan", "progress", "nan", names="nan", exit_0=True),
    case("progress-escape", "progress", ESC, names="fraction", exit_0=True),
    case("progress-huge", "progress", HUGE, names="fraction", exit_0=True),
    case("progress-step-above-total", "progress", "--step", "2", "--total", "1",
         names="step 2", exit_0=True),
    case("progress-total-zero", "progress", "--step", "0", "--total", "0",
         names="total 0", exit_0=True),
    case("progress-extra", "progress", "0.1", "0.2", names="0.2", exit_0=True),
]  # fmt: skip
PI = ("profile", "import", *D)
PLAIN = ("{tmp}/plain.csv", "--gpu-model", "A40")
PROFILE = [
    case("profile-import-missing", *PI, "{tmp}/absent.csv", "--gpu-model", "A40", "--key", "k",
         names="absent.csv"),
    case("profile-import-fifo", *PI, "{tmp}/fifo", "--gpu-model", "A40", "--key", "k",
         names="not a regular file"),
    case("profile-import-not-a-profile", *PI, "{tmp}/trace.csv", "--gpu-model", "A40",
         "--key", "k", names="not a Zeus power summary"),
    case("profile-import-nul", *PI, "a\x00", "--gpu-model", "A40", "--key", "k",
         names=r"a\x00: not a regular file"),
    case("profile-import-key-empty", *PI, *PLAIN, "--key", "", names="--key"),
    case("profile-import-key-escape", *PI, *PLAIN, "--key", ESC, names="--key"),
    case("profile-import-key-long", *PI, *PLAIN, "--key", "k" * 256, names="--key"),
    case("profile-import-model-nul", *PI, "{tmp}/plain.csv", "--gpu-model", "A\x00",
         "--key", "k", names="--gpu-model"),
    case("profile-import-workload-bad", *PI, "{tmp}/longfield.csv", "--gpu-model", "A40",
         "--key", "k", "--workload", "x", names="workload"),
    case("profile-import-workload-and-flags", *PI, *PLAIN, "--key", "k", "--workload", "a/b",
         "--dataset", "a", "--network", "b", names="--workload or --dataset, --network"),
    case("profile-import-optimizer-alone", *PI, *PLAIN, "--key", "k", "--dataset", "a",
         "--network", "b", "--optimizer", "adam", names="--optimizer needs --batch-size"),
    case("profile-import-batch-size-huge", *PI, *PLAIN, "--key", "k", "--batch-size", HUGE,
         names="--batch-size"),
    case("profile-import-network-escape", *PI, *PLAIN, "--key", "k", "--network", ESC,
         names="--network"),
    case("profile-list-url-garbage", "profile", "list", "--url", "nope", names="database"),
]  # fmt: skip
SITE = str(Path(__file__).parents[3] / "deploy" / "site.example.toml")
AD = ("advise", *D, "--config", SITE)
ADVISE = [
    case("advise-time-words", *AD, "-p", "gpu", "-t", "1h", names="time limit"),
    case("advise-time-zero", *AD, "-p", "gpu", "-t", "0", names="time limit"),
    case("advise-time-escape", *AD, "-p", "gpu", "-t", ESC, names="time limit"),
    case("advise-time-huge", *AD, "-p", "gpu", "-t", HUGE, names="time limit"),
    case("advise-gres-zero", *AD, "-p", "gpu", "-t", "60", "--gres", "gpu:0", names="--gres"),
    case("advise-nodes-zero", *AD, "-p", "gpu", "-t", "60", "-N", "0", names="--nodes"),
    case("advise-within-49", *AD, "-p", "gpu", "-t", "60", "--within", "49", names="--within"),
    case("advise-no-partition", *AD, "-t", "60", names="-p PARTITION"),
    case("advise-partition-escape", *AD, "-t", "60", "-p", ESC, names="--partition"),
    case("advise-job-and-time", *AD, "-j", "5", "-t", "60", names="-j"),
    case("advise-job-uint32", *AD, "-j", UINT32_PLUS_1, names="--job"),
    case("advise-job-no-slurm", *AD, "-j", "5", names="sacct"),
    case("advise-config-deep", "advise", *D, "-t", "60", "-p", "gpu", "--config",
         "{tmp}/deep.toml", names="nested too deeply"),
]  # fmt: skip
WEB = [
    case("web-url-scheme", "web", "--service-url", "ftp://host", names="--service-url"),
    case("web-url-escape", "web", "--service-url", ESC, names="--service-url"),
    case("web-url-nul", "web", "--service-url", "http://h\x00", names="--service-url"),
    case("web-munge-socket-missing", "web", "--munge-socket", "{tmp}/absent", names="munge"),
]
CATALOGUE = [
    *ADVISE,
    *WEB,
    *REPORT_TIMES,
    *REPORT_JOBS,
    *REPORT_NAMES,
    *REPORT_OTHER,
    *TOKENS,
    *INTENSITY,
    *EVALUATE_FORECAST,
    *SIM,
    *SET_CAP,
    *AGENT_RUN,
    *WRITER,
    *SERVICE,
    *DEMO,
    *DB,
    *EVALUATE_JOB_ENERGY,
    *EVALUATE_CONTROL,
    *EVALUATE_ADVICE,
    *PROGRESS,
    *PROFILE,
]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database, hostile files, a token file and one simulated GPU."""
    tmp = tmp_path_factory.mktemp("bad")
    upgrade(f"sqlite:///{tmp}/db.sqlite")
    (tmp / "deep.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp / "large.toml").write_text("#" * (CONFIG_MAX_BYTES + 1))
    (tmp / "latin1.toml").write_bytes('cluster = "café"\n'.encode("latin-1"))
    (tmp / "nul.toml").write_bytes(b'cluster = "c\x00"\n')
    (tmp / "longfield.csv").write_text("a" * 200_000 + "\n")
    (tmp / "plain.csv").write_text("power_limit_w,throughput,power_w\n100,0.5,90\n200,1.0,180\n")
    (tmp / "trace.csv").write_text("time,ci_g_per_kwh\n2020-01-01T00:00:00+00:00,100\n")
    os.mkfifo(tmp / "fifo")
    token = tmp / "token"
    token.write_text("t" * 43)
    token.chmod(0o600)
    result = CliRunner().invoke(cli, ["sim", "init", "--dir", str(tmp / "sim"), "--gpus", "1"])
    assert result.exit_code == 0, result.output
    return tmp


@pytest.fixture(autouse=True)
def no_slurm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Slurm command on PATH, and no settings from the environment."""
    monkeypatch.setenv("PATH", str(tmp_path))
    for variable in [name for name in os.environ if name.startswith("SLURM_")]:
        monkeypatch.delenv(variable)


def _invoke(args: list[str], child: bool) -> tuple[int, str]:
    if not child:
        result = CliRunner().invoke(cli, args)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output
    done = subprocess.run(
        [sys.executable, "-m", "slurm_carbon", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=CHILD_DEADLINE_S,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("bad", CATALOGUE)
def test_bad_input_is_one_error_line_and_exit_1_or_2(bad: Case, tmp: Path) -> None:
    args = [arg.replace("{tmp}", str(tmp)) for arg in bad.args]

    code, output = _invoke(args, bad.child)

    assert "Traceback" not in output
    assert code in ({0} if bad.exit_0 else {1, 2}), output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    if code in {0, 1}:
        assert output.strip() == errors[0], output  # one line, nothing else
    assert bad.names in errors[0], errors[0]
    assert "\x1b" not in output
    assert "\x00" not in output


def test_the_catalogue_covers_every_command() -> None:
    commands = {case.values[0].args[0] for case in CATALOGUE}  # type: ignore[attr-defined]

    assert len(CATALOGUE) >= 100
    assert commands == set(cli.list_commands(click.Context(cli)))  # the group loads lazily
