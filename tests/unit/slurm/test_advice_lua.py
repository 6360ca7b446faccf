"""Submit-time advice in job_submit.lua: the cleanest start and the advice file agree with
slurm_carbon.forecast.advice (one table of cases runs against both), the hint and the
opt-in deferral of a submitted job."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from slurm_carbon.forecast.advice import (
    ADVICE_MAX_BYTES,
    ADVICE_MAX_POINTS,
    ADVICE_STALE_S,
    Advice,
    CiSteps,
    cleanest_start,
    format_advice,
    parse_advice,
)
from tests.unit.forecast.advice_cases import CASES, T0, AdviceCase
from tests.unit.slurm.lua_harness import needs_lua, run_lua, submit_lua

pytestmark = needs_lua

H = 3600
# slurmctld 22.05's "no time limit given" and "unlimited" (job_desc.time_limit, minutes).
NO_VAL, INFINITE = 4294967294, 4294967295


def lua_numbers(values: list[float] | tuple[float, ...]) -> str:
    return "{" + ", ".join(repr(float(value)) for value in values) + "}"


def printed(lines: list[str]) -> list[str]:
    """What the test's body printed: not slurmctld's log lines."""
    return [line for line in lines if not line.startswith("info: ")]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_the_lua_answers_every_case_of_the_shared_table(case: AdviceCase, tmp_path: Path) -> None:
    ci = lua_numbers(case["ci"])
    body = f"""
local series = {{start = {case["start"]}, step_s = {case["step_s"]}, ci = {ci}}}
local best, saving = slurm_carbon_cleanest_start(series, {case["now"]}, {case["length_s"]},
                                                 {case["within_s"]})
print("best=" .. tostring(best))
print("saving=" .. (saving and string.format("%.17g", saving) or "nil"))
"""
    lines = printed(run_lua(body, "", tmp_path))

    if case["best_start"] is None:
        assert lines[:2] == ["best=nil", "saving=nil"]
        return
    assert lines[0] == f"best={case['best_start']}"
    assert float(lines[1].removeprefix("saving=")) == pytest.approx(case["saving_pct"], abs=1e-9)


# Dirty now, clean from +2 h: a 2 h job saves 75 % at 02:00 (means 400, 250, 100).
ADVICE = Advice(
    generated=T0,
    partition="gpu",
    region="DE",
    source="slurm_carbon:blend",
    issued=T0 - H,
    hint=True,
    threshold_pct=10.0,
    defer_default_s=H,
    step_s=H,
    start=T0,
    ci=(400.0, 400.0, 100.0, 100.0, 100.0, 400.0),
)
TEXT = format_advice(ADVICE)


def _with(key: str, value: str) -> str:
    return "".join(
        f"{key}={value}\n" if line.startswith(f"{key}=") else line + "\n"
        for line in TEXT.splitlines()
    )


def _without(key: str) -> str:
    return "".join(line + "\n" for line in TEXT.splitlines() if not line.startswith(f"{key}="))


# Files the Python reader and the lua reader must read alike, at T0 unless said.
FILES: list[tuple[str, str, int]] = [
    ("good", TEXT, T0),
    ("unknown key", TEXT + "later=1\n", T0),
    ("CRLF lines", TEXT.replace("\n", "\r\n"), T0),
    ("decimals", _with("ci", "412.1,398,377.25").replace("=10\n", "=7.5\n"), T0),
    ("hint off", _with("hint", "off"), T0),
    ("carried", _with("source", "actual-carried"), T0),
    ("hint min 2 h", _with("hint_min_s", "7200"), T0),
    ("hint min missing", _without("hint_min_s"), T0),
    ("hint min negative", _with("hint_min_s", "-60"), T0),
    ("hint min minutes", _with("hint_min_s", "60m"), T0),
    ("hint min repeated", TEXT + "hint_min_s=0\n", T0),
    ("stale edge", TEXT, T0 + ADVICE_STALE_S),
    ("stale", TEXT, T0 + ADVICE_STALE_S + 1),
    ("future", TEXT, T0 - 301),
    ("version 2", _with("version", "2"), T0),
    ("version 01", _with("version", "01"), T0),
    ("generated soon", _with("generated", "soon"), T0),
    ("issued negative", _with("issued", "-5"), T0),
    ("hint yes", _with("hint", "yes"), T0),
    ("threshold nan", _with("threshold_pct", "nan"), T0),
    ("threshold 101", _with("threshold_pct", "101"), T0),
    ("threshold exponent", _with("threshold_pct", "1e1"), T0),
    ("defer 0", _with("defer_default_s", "0"), T0),
    ("step 600", _with("step_s", "600"), T0),
    ("start off step", _with("start", str(T0 + 1)), T0),
    ("ci inf", _with("ci", "412.1,inf"), T0),
    ("ci negative", _with("ci", "412.1,-1"), T0),
    ("ci hole", _with("ci", "412.1,,3"), T0),
    ("ci trailing comma", _with("ci", "412.1,3,"), T0),
    ("ci empty", _with("ci", ""), T0),
    ("ci hex", _with("ci", "0x10"), T0),
    ("ci too many", _with("ci", ",".join(["1"] * (ADVICE_MAX_POINTS + 1))), T0),
    ("ci most", _with("ci", ",".join(["1"] * ADVICE_MAX_POINTS)), T0),
    ("partition empty", _with("partition", ""), T0),
    ("region space", _with("region", "D E"), T0),
    ("key repeated", TEXT + "hint=on\n", T0),
    ("key without value", TEXT.replace("hint=on", "hint"), T0),
    ("spaces around =", TEXT.replace("version=1", "version = 1"), T0),
    ("missing ci", _without("ci"), T0),
    ("missing generated", _without("generated"), T0),
    ("non-ASCII", TEXT.replace("DE", "D\u00c9"), T0),
    ("oversized", TEXT + "#" * ADVICE_MAX_BYTES, T0),
    ("empty", "", T0),
]

PARSE = """
local file = io.open(ADVICE_FILE, "rb")
local advice = slurm_carbon_parse_advice(file:read("*a"), NOW)
if advice == nil then
   print("absent")
else
   print(string.format("%s %s %s %s %s %s %.17g %s %s %s %s", advice.generated,
         advice.partition, advice.region, advice.source, advice.issued, tostring(advice.hint),
         advice.threshold_pct, advice.defer_default_s, advice.step_s, advice.start,
         advice.hint_min_s))
   local values = {}
   for _, value in ipairs(advice.ci) do
      table.insert(values, string.format("%.17g", value))
   end
   print(table.concat(values, ","))
end
"""


@pytest.mark.parametrize(("text", "now"), [(t, n) for _, t, n in FILES], ids=[f[0] for f in FILES])
def test_the_lua_reads_the_advice_file_as_the_python_reader_does(
    text: str, now: int, tmp_path: Path
) -> None:
    path = tmp_path / "gpu.advice"
    path.write_bytes(text.encode())
    body = f'ADVICE_FILE, NOW = "{path}", {now}\n' + PARSE

    lines = printed(run_lua(body, "", tmp_path))

    advice = parse_advice(text, now)
    if advice is None:
        assert lines[0] == "absent"
        return
    assert lines[0] == (
        f"{advice.generated} {advice.partition} {advice.region} {advice.source} {advice.issued}"
        f" {str(advice.hint).lower()} {advice.threshold_pct:.17g} {advice.defer_default_s}"
        f" {advice.step_s} {advice.start} {advice.hint_min_s}"
    )
    assert [float(v) for v in lines[1].split(",")] == list(advice.ci)


def test_the_table_of_files_reads_some_and_refuses_most() -> None:
    read = [name for name, text, now in FILES if parse_advice(text, now) is not None]
    assert read == ["good", "unknown key", "CRLF lines", "decimals", "hint off", "carried"] + [
        "hint min 2 h",
        "hint min missing",
        "stale edge",
        "ci most",
    ]


def gpu_job(minutes: int) -> str:
    """A job on partition gpu with that time limit (minutes, as slurmctld gives it)."""
    return f"{{partition = 'gpu', time_limit = {minutes}, begin_time = 0}}"


GPU_2H = gpu_job(120)
HINT = (
    "user: carbon: starting at 02:00 would emit ~75 % less for a 2 h job on gpu;"
    " add --begin=2025-12-02T02:00:00 (or --comment carbon_defer=2h)"
)


def submit(
    tmp_path: Path,
    comment: str = "",
    job: str = GPU_2H,
    advice: Advice | str | None = ADVICE,
    parts: str | None = None,
) -> tuple[list[str], str]:
    """The lines the user is shown, and the job's begin time after the submit call."""
    advice_dir = tmp_path / "advice"
    advice_dir.mkdir()
    if advice is not None:
        text = advice if isinstance(advice, str) else format_advice(advice)
        (advice_dir / "gpu.advice").write_text(text)
    extra = {} if parts is None else {"parts": parts}
    lines = submit_lua(job, comment, tmp_path, now=T0, advice_dir=advice_dir, **extra)
    assert "submit=0" in lines
    said = [line for line in lines if line.startswith("user: ")]
    return said, lines[-1].removeprefix("begin_time=")


def test_a_long_job_is_told_when_it_would_be_cleaner(tmp_path: Path) -> None:
    assert submit(tmp_path) == ([HINT], "0")


def test_the_default_partition_is_the_jobs_when_it_names_none(tmp_path: Path) -> None:
    said, _ = submit(tmp_path, job="{time_limit = 120, begin_time = 0}")
    assert said == [HINT]


@pytest.mark.parametrize(
    ("what", "comment", "job", "advice"),
    [
        ("the user's opt-out", "carbon_advice=off", GPU_2H, ADVICE),
        ("the site's switch off", "", GPU_2H, replace(ADVICE, hint=False)),
        ("a saving below the threshold", "", GPU_2H, replace(ADVICE, threshold_pct=76.0)),
        (
            "no time limit",
            "",
            gpu_job(NO_VAL),
            ADVICE,
        ),
        (
            "an unlimited time",
            "",
            gpu_job(INFINITE),
            ADVICE,
        ),
        ("now the cleanest", "", GPU_2H, replace(ADVICE, ci=(100.0,) * 6)),
        ("shorter than the site's minimum", "", GPU_2H, replace(ADVICE, hint_min_s=2 * H + 60)),
        (
            "a job longer than the series",
            "",
            gpu_job(600),
            ADVICE,
        ),
        (
            "several partitions",
            "",
            "{partition = 'gpu,debug', time_limit = 120, begin_time = 0}",
            ADVICE,
        ),
        ("no file", "", GPU_2H, None),
        ("a stale file", "", GPU_2H, replace(ADVICE, generated=T0 - ADVICE_STALE_S - 1)),
        ("a malformed file", "", GPU_2H, TEXT.replace("ci=400", "ci=x400")),
        ("an oversized file", "", GPU_2H, TEXT + "#" * ADVICE_MAX_BYTES),
    ],
)
def test_no_hint(
    tmp_path: Path, what: str, comment: str, job: str, advice: Advice | str | None
) -> None:
    assert submit(tmp_path, comment, job, advice) == ([], "0"), what


def test_a_job_as_long_as_the_sites_minimum_is_hinted_and_a_shorter_one_deferred(
    tmp_path: Path,
) -> None:
    (tmp_path / "hinted").mkdir()
    (tmp_path / "deferred").mkdir()
    assert submit(tmp_path / "hinted", advice=replace(ADVICE, hint_min_s=2 * H)) == ([HINT], "0")
    said, begin = submit(
        tmp_path / "deferred", "carbon_defer=2h", advice=replace(ADVICE, hint_min_s=3 * H)
    )
    assert begin == str(T0 + 2 * H), said  # the minimum is the hint's, not the deferral's


def test_a_threshold_equal_to_the_saving_hints(tmp_path: Path) -> None:
    said, _ = submit(tmp_path, advice=replace(ADVICE, threshold_pct=75.0))
    assert said == [HINT]


def test_an_unreadable_file_means_no_hint(tmp_path: Path) -> None:
    advice_dir = tmp_path / "advice"
    (advice_dir / "gpu.advice").mkdir(parents=True)
    lines = submit_lua(GPU_2H, "", tmp_path, now=T0, advice_dir=advice_dir)
    assert [line for line in lines if line.startswith("user: ")] == []
    assert "submit=0" in lines


def test_an_error_in_the_advice_is_logged_and_the_job_accepted(tmp_path: Path) -> None:
    said, begin = submit(tmp_path, job="{partition = 'gpu', time_limit = 'two hours'}")
    assert (said, begin) == ([], "nil")


FORECAST = "forecast slurm_carbon:blend issued 23:00"


@pytest.mark.parametrize(
    ("comment", "advice", "said", "begin"),
    [
        (
            "carbon_defer=6h",
            ADVICE,
            f"carbon: deferred to 02:00 (~75 % less than now, {FORECAST})",
            T0 + 2 * H,
        ),
        (
            "carbon_defer=1h",
            ADVICE,
            f"carbon: deferred to 01:00 (~38 % less than now, {FORECAST})",
            T0 + H,
        ),
        (
            "carbon_defer=auto",
            ADVICE,
            f"carbon: deferred to 01:00 (~38 % less than now, {FORECAST})",
            T0 + H,
        ),
        (
            "carbon_defer=6h carbon_advice=off",
            replace(ADVICE, hint=False, source="actual-carried"),
            "carbon: deferred to 02:00 (~75 % less than now, no forecast; the last value held)",
            T0 + 2 * H,
        ),
        (
            "carbon_defer=6h",
            replace(ADVICE, ci=(100.0,) * 6),
            f"carbon: not deferred: now is the cleanest start within 6 h ({FORECAST})",
            0,
        ),
        (
            "carbon_defer=6h",
            None,
            "carbon: not deferred: no carbon advice for partition gpu",
            0,
        ),
        (
            "carbon_defer=6h",
            replace(ADVICE, ci=(400.0,)),
            "carbon: not deferred: the forecast does not cover a 2 h job",
            0,
        ),
    ],
)
def test_an_opted_in_job_is_deferred_to_the_cleanest_start_within_its_delay(
    tmp_path: Path, comment: str, advice: Advice | None, said: str, begin: int
) -> None:
    assert submit(tmp_path, comment, advice=advice) == ([f"user: {said}"], str(begin))


def test_the_users_own_begin_is_kept(tmp_path: Path) -> None:
    job = f"{{partition = 'gpu', time_limit = 120, begin_time = {T0 + 5 * H}}}"
    said, begin = submit(tmp_path, "carbon_defer=6h", job=job)
    assert (said, begin) == (
        ["user: carbon: not deferred: the job's own --begin is kept"],
        str(T0 + 5 * H),
    )


def test_a_job_without_a_time_limit_is_not_deferred(tmp_path: Path) -> None:
    said, begin = submit(tmp_path, "carbon_defer=6h", job="{partition = 'gpu'}")
    assert (said, begin) == (
        ["user: carbon: not deferred: the job has no time limit (give one with -t)"],
        "nil",
    )


def test_a_modified_job_is_neither_hinted_nor_deferred(tmp_path: Path) -> None:
    advice_dir = tmp_path / "advice"
    advice_dir.mkdir()
    (advice_dir / "gpu.advice").write_text(TEXT)
    body = f'ADVICE_DIR = "{advice_dir}"\nos.time = function() return {T0} end\n'
    lines = run_lua(body, "carbon_defer=6h", tmp_path)
    assert [line for line in lines if line.startswith("user: ")] == [
        "user: carbon: not deferred: no carbon advice for partition (several or unknown)"
    ]


# Random series with one decimal, as the service writes them: the lua's window means (from
# sums of whole steps) choose the same start as the Python's (summed step by step).
RANDOM_CASES = 300


def test_the_lua_chooses_as_the_python_over_random_series(tmp_path: Path) -> None:
    chance = random.Random(12)  # noqa: S311 - reproducible series, not secrets
    calls, expected = [], []
    for _ in range(RANDOM_CASES):
        step_s = chance.choice([900, 1800, 3600])
        ci = tuple(round(chance.uniform(0, 600), 1) for _ in range(chance.randint(1, 192)))
        now = T0 + chance.randint(0, 3 * step_s)
        length_s = 60 * chance.randint(1, 48 * 60)
        within_s = chance.randint(0, 7 * 86400)
        calls.append(
            f"show(slurm_carbon_cleanest_start({{start = {T0}, step_s = {step_s},"
            f" ci = {lua_numbers(ci)}}}, {now}, {length_s}, {within_s}))"
        )
        found = cleanest_start(CiSteps(T0, step_s, ci), now, length_s, within_s)
        expected.append(None if found is None else (found.start, found.saving_pct))
    body = (
        'local function show(best, saving) print(tostring(best) .. " " .. '
        'string.format("%.17g", saving or 0)) end\n' + "\n".join(calls) + "\n"
    )

    lines = printed(run_lua(body, "", tmp_path))[:RANDOM_CASES]

    said = [line.split() for line in lines]
    assert [None if best == "nil" else int(best) for best, _ in said] == [
        None if e is None else e[0] for e in expected
    ]
    for (_, saving), e in zip(said, expected, strict=True):
        assert float(saving) == pytest.approx(0 if e is None else e[1], abs=1e-9)
    assert sum(e is not None and e[1] > 0 for e in expected) > RANDOM_CASES // 4


@pytest.mark.parametrize(
    ("comment", "advice", "after"),
    [
        # auto resolved with the file's defer_default_s (1 h): the word the service reads.
        ("carbon_defer=auto", ADVICE, "carbon_defer=auto carbon_defer_resolved=3600s"),
        (
            "x CARBON_DEFER=Auto",
            replace(ADVICE, defer_default_s=8 * 86400),  # more than 7 d: the lua's bound
            "x CARBON_DEFER=Auto carbon_defer_resolved=604800s",
        ),
        # Resolved even when now is the cleanest: the decision not to defer is recorded too.
        (
            "carbon_defer=auto",
            replace(ADVICE, ci=(100.0,) * 6),
            "carbon_defer=auto carbon_defer_resolved=3600s",
        ),
        ("carbon_defer=6h", ADVICE, "carbon_defer=6h"),  # the delay is in the word
        ("carbon_defer=auto", None, "carbon_defer=auto"),  # no file: nothing resolved
    ],
)
def test_auto_is_written_into_the_comment_as_the_delay_it_meant(
    tmp_path: Path, comment: str, advice: Advice | None, after: str
) -> None:
    advice_dir = tmp_path / "advice"
    advice_dir.mkdir()
    if advice is not None:
        (advice_dir / "gpu.advice").write_text(format_advice(advice))

    lines = submit_lua(GPU_2H, comment, tmp_path, now=T0, advice_dir=advice_dir)

    assert "submit=0" in lines
    assert f"comment={after}" in lines


def test_a_submitted_comment_holding_the_lua_s_own_word_is_refused(tmp_path: Path) -> None:
    lines = run_lua("", "carbon_defer=auto carbon_defer_resolved=60s", tmp_path)

    assert (lines[-3], lines[-1]) == ("submit=-1", "modify=0")
    assert (
        "user: slurm_carbon: carbon_defer_resolved is written by slurm_carbon on submit;"
        " leave it out of the comment"
    ) in lines
