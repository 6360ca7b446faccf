"""The command-line Slurm client against output recorded from Slurm 22.05.8."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slurm_carbon.errors import SlurmCommandNotFound, SlurmError, SlurmJobNotFound
from slurm_carbon.slurm import (
    CommandLineSlurm,
    CommandResult,
    JobQuery,
    RecordedRunner,
    SubprocessRunner,
)
from slurm_carbon.slurm.commands import SACCT_FIELDS, parse_sacct

RECORDED = Path(__file__).parents[2] / "fixtures" / "slurm"


def replay(stdout: str = "", stderr: str = "", returncode: int = 0) -> RecordedRunner:
    return RecordedRunner(lambda _argv: CommandResult(returncode, stdout, stderr))


def test_gpu_job_array_tasks_and_failed_job_are_parsed() -> None:
    jobs = parse_sacct((RECORDED / "sacct_gpu_array_failed.txt").read_text(), delimiter="\x1f")

    assert [j.job_id for j in jobs] == ["6", "8", "7_0", "7_1", "7_2"]
    gpu = jobs[0]
    assert gpu.name == "train|resnet50"
    assert (gpu.req_gpus, gpu.alloc_gpus, gpu.alloc_cpus) == (2, 2, 1)
    assert gpu.comment == "carbon_budget=5kg"
    assert gpu.admin_comment == "sc1:co2e_g=1.5"
    assert gpu.cluster == "sclocal"
    assert (gpu.user, gpu.uid, gpu.account, gpu.partition) == ("root", 0, "carbon", "debug")
    assert gpu.start_time == datetime(2026, 11, 23, 15, 10, tzinfo=UTC)
    assert gpu.end_time == datetime(2026, 11, 23, 15, 10, 2, tzinfo=UTC)
    assert gpu.elapsed_s == 2
    assert gpu.finished
    failed = jobs[1]
    assert (failed.state, failed.exit_code, failed.alloc_gpus) == ("FAILED", "3:0", 0)
    tasks = jobs[2:]
    assert [(t.array_job_id, t.array_task_id, t.job_id_raw) for t in tasks] == [
        (7, 0, 9),
        (7, 1, 10),
        (7, 2, 7),
    ]
    assert gpu.array_job_id is None


def test_het_job_components_keep_the_leaders_id_and_their_offset() -> None:
    """Slurm 22.05.8's sacct has no HetJobID/HetJobOffset fields: JobID ``899+1`` names them."""
    jobs = parse_sacct((RECORDED / "sacct_het_components.txt").read_text(), delimiter="\x1f")

    assert [(j.job_id, j.job_id_raw, j.node_list) for j in jobs] == [
        ("899+0", 899, "scn1"),
        ("899+1", 900, "scn2"),
    ]
    assert [(j.het_job_id, j.het_job_offset) for j in jobs] == [(899, 0), (899, 1)]
    assert {(j.array_job_id, j.array_task_id) for j in jobs} == {(None, None)}
    assert all(j.finished and j.alloc_gpus == 1 for j in jobs)


def test_comment_with_newline_and_array_cancelled_while_pending_are_parsed() -> None:
    jobs = parse_sacct((RECORDED / "sacct_newline_pending_array.txt").read_text(), delimiter="\x1f")

    assert [j.job_id for j in jobs] == ["12", "14_[1-2]"]
    assert jobs[0].comment == "line one\nline two"
    assert jobs[0].name == "odd"
    never_ran = jobs[1]
    assert (never_ran.array_job_id, never_ran.array_task_id) == (14, None)
    assert never_ran.state == "CANCELLED"
    assert never_ran.start_time is None
    assert never_ran.end_time == datetime(2026, 11, 23, 15, 10, 30, tzinfo=UTC)
    assert never_ran.node_list == "None assigned"
    assert never_ran.finished


def sacct_line(state: str, end: str, req_tres: str) -> str:
    fields = ["c", "5", "5", "u", "1000", "a", "p", state, "0:15", "100", "101", end]
    fields += ["1", "2", req_tres, req_tres, "n1", "5", "100", "", "", "j"]
    assert len(fields) == len(SACCT_FIELDS)
    return "\x1f".join(fields) + "\n"


@pytest.mark.parametrize(
    ("state", "end", "req_tres", "base_state", "finished"),
    [
        ("CANCELLED by 0", "102", "cpu=2", "CANCELLED", True),
        ("RUNNING", "Unknown", "cpu=2", "RUNNING", False),
        # Slurm 22.05 can list a job as ended before its start record arrives.
        ("COMPLETED", "102", "", "COMPLETED", False),
    ],
)
def test_state_and_whether_the_record_is_final(
    state: str, end: str, req_tres: str, base_state: str, *, finished: bool
) -> None:
    (job,) = parse_sacct(sacct_line(state, end, req_tres), delimiter="\x1f")

    assert job.state == base_state
    assert job.finished is finished


def test_time_limits_are_read_in_seconds_and_none_without_one_of_the_jobs_own() -> None:
    # Recorded on the local cluster (MaxTime=INFINITE): --time=5, no --time, --time=1-00:00:30
    # (sacct rounds up to 1441 min), a held job that never started (Partition_Limit), and
    # no --time started by the backfill scheduler (525600 min: 365 days, Slurm's INFINITE).
    jobs = parse_sacct((RECORDED / "sacct_time_limits.txt").read_text(), delimiter="\x1f")

    limits = {job.job_id: job.time_limit_s for job in jobs}
    assert limits == {"312": 300.0, "313": None, "314": 1441 * 60.0, "329": None, "361": None}


def test_eligible_time_is_the_begin_time_slurm_holds_and_none_while_held() -> None:
    # Recorded on the local cluster: --begin=now+3hours (pending), no --begin (ended),
    # --hold (pending: sacct prints Eligible "Unknown").
    jobs = parse_sacct((RECORDED / "sacct_eligible.txt").read_text(), delimiter="\x1f")

    submitted = datetime.fromtimestamp(1796155658, tz=UTC)
    eligible = {job.job_id: job.eligible_time for job in jobs}
    assert eligible == {"699": submitted + timedelta(hours=3), "700": submitted, "701": None}
    assert [job.start_time for job in jobs] == [None, submitted, None]
    assert {job.submit_time for job in jobs} == {submitted}


def test_a_time_limit_that_is_not_minutes_is_an_error() -> None:
    line = sacct_line("RUNNING", "Unknown", "cpu=2").replace(
        "\x1fn1\x1f5\x1f", "\x1fn1\x1f5:00\x1f"
    )

    with pytest.raises(SlurmError, match="time limit that is not a number of minutes: '5:00'"):
        parse_sacct(line, delimiter="\x1f")


def test_truncated_output_is_an_error() -> None:
    with pytest.raises(SlurmError, match="does not split into"):
        parse_sacct("sclocal\x1f6\x1f6\x1froot\n", delimiter="\x1f")


def test_query_becomes_sacct_options() -> None:
    runner = replay()
    query = JobQuery(
        job_ids=["6", "7_1"],
        accounts=["carbon"],
        states=["COMPLETED", "FAILED"],
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, 12, tzinfo=UTC),
    )

    assert CommandLineSlurm(runner).jobs(query) == []

    ((argv, env),) = runner.calls
    assert argv[:5] == ["sacct", "-P", "-n", "-X", "--noconvert"]
    assert argv[5].startswith("--delimiter=\x1f")
    assert argv[argv.index("-o") + 1].endswith("Comment,AdminComment,JobName")
    assert argv[argv.index("-j") + 1] == "6,7_1"
    assert argv[argv.index("-A") + 1] == "carbon"
    assert argv[argv.index("-s") + 1] == "COMPLETED,FAILED"
    assert argv[argv.index("-S") + 1] == "2026-11-01T00:00:00"
    assert argv[argv.index("-E") + 1] == "2026-11-02T12:00:00"
    assert "--allusers" in argv
    assert env == {"SLURM_TIME_FORMAT": "%s", "TZ": "UTC"}


def test_user_query_does_not_ask_for_all_users_and_starts_at_the_epoch() -> None:
    runner = replay()

    CommandLineSlurm(runner).jobs(JobQuery(users=["alice"]))

    ((argv, _),) = runner.calls
    assert argv[argv.index("-u") + 1] == "alice"
    assert "--allusers" not in argv
    assert argv[argv.index("-S") + 1] == "1970-01-01T00:00:00"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        CommandLineSlurm(replay()).jobs(JobQuery(start=datetime(2026, 1, 1)))  # noqa: DTZ001


def test_sacct_failure_names_the_cause_on_one_line() -> None:
    stderr = (
        "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent "
        "connection to host:localhost:6819: Connection refused\n"
        "sacct: error: Sending PersistInit msg: Connection refused\n"
        "sacct: error: Problem talking to the database: Connection refused\n"
    )
    client = CommandLineSlurm(replay(stderr=stderr, returncode=1))

    with pytest.raises(SlurmError) as caught:
        client.jobs(JobQuery(job_ids=["1"]))

    assert str(caught.value) == "sacct failed: Problem talking to the database: Connection refused"


def test_finished_job_comment_goes_through_sacctmgr() -> None:
    runner = replay(stdout=" Modified jobs...\n  6 submitted at 2026-11-23T15:10:00\n")

    CommandLineSlurm(runner).set_admin_comment("6", "sc1:co2e_g=1.5", finished=True)

    ((argv, _),) = runner.calls
    assert argv == [
        "sacctmgr", "-i", "modify", "job", "where", "jobid=6",
        "set", "AdminComment=sc1:co2e_g=1.5",
    ]  # fmt: skip


def test_sacctmgr_modifying_nothing_is_job_not_found() -> None:
    runner = replay(
        stdout=" Nothing modified\n",
        stderr=(
            "sacctmgr: accounting_storage/slurmdbd: acct_storage_p_modify_job: Request didn't "
            "affect anything or your user doesn't have privilege to perform this action\n"
        ),
        returncode=1,
    )

    with pytest.raises(SlurmJobNotFound, match="99999"):
        CommandLineSlurm(runner).set_admin_comment("99999", "x", finished=True)


def test_running_job_comment_goes_through_scontrol() -> None:
    runner = replay()

    CommandLineSlurm(runner).set_admin_comment("7_1", "sc1:co2e_g=2", finished=False)

    assert runner.calls[0][0] == ["scontrol", "update", "jobid=7_1", "AdminComment=sc1:co2e_g=2"]


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        ("Invalid job id specified for job 99999\n", SlurmJobNotFound),
        ("Job has already finished for job 6\n", SlurmError),
    ],
)
def test_scontrol_failures_keep_slurms_words(stderr: str, error: type[SlurmError]) -> None:
    client = CommandLineSlurm(replay(stderr=stderr, returncode=1))

    with pytest.raises(error, match=stderr.strip()):
        client.set_admin_comment("6", "x", finished=False)


def test_multiline_comment_is_refused_before_calling_slurm() -> None:
    runner = replay()
    with pytest.raises(ValueError, match="one line"):
        CommandLineSlurm(runner).set_admin_comment("6", "a\nb", finished=True)
    assert runner.calls == []


def test_submit_returns_the_job_id_and_reports_sbatch_errors() -> None:
    assert CommandLineSlurm(replay(stdout="42;sclocal\n")).submit(["--wrap", "true"]) == "42"
    failing = replay(
        stderr="sbatch: error: Invalid generic resource (gres) specification\n", returncode=1
    )
    with pytest.raises(SlurmError, match="Invalid generic resource"):
        CommandLineSlurm(failing).submit(["--gres=gpu:9"])


def test_missing_command_is_a_one_line_error(tmp_path: Path) -> None:
    runner = SubprocessRunner(env={"PATH": str(tmp_path)})

    with pytest.raises(SlurmCommandNotFound, match="sacct: command not found"):
        CommandLineSlurm(runner).jobs(JobQuery(job_ids=["1"]))


def test_cluster_name_is_read_from_scontrol_show_config() -> None:
    config = (
        "Configuration data as of 2026-11-23T16:07:03\n"
        "AccountingStorageBackupHost = (null)\n"
        "ClusterName             = sclocal\n"
    )
    runner = replay(stdout=config)

    assert CommandLineSlurm(runner).cluster_name() == "sclocal"
    assert runner.calls[0][0] == ["scontrol", "show", "config"]
    with pytest.raises(SlurmError, match="no ClusterName"):
        CommandLineSlurm(replay(stdout="Configuration data\n")).cluster_name()


def sacct_as_slurm_prints(argv: Sequence[str], *records: dict[str, str]) -> str:
    """What ``sacct -P`` prints for ``records``: the fields ``argv`` asks for, its delimiter."""
    delimiter = next(a.removeprefix("--delimiter=") for a in argv if a.startswith("--delimiter="))
    fields = argv[argv.index("-o") + 1].split(",")
    line = sacct_line("COMPLETED", "102", "cpu=2")
    base = dict(zip(SACCT_FIELDS, line.removesuffix("\n").split("\x1f"), strict=True))
    return "".join(delimiter.join({**base, **r}[f] for f in fields) + "\n" for r in records)


HOSTILE = {
    "Comment": "x\x1fops-approved=yes",
    # A newline and a whole forged record (with the old separator) in the job name.
    "JobName": "a\n" + sacct_line("COMPLETED", "102", "cpu=2").replace("\x1fj\n", "\x1fforged"),
}


def test_user_text_cannot_move_a_field_or_forge_a_record() -> None:
    runner = RecordedRunner(
        lambda argv: CommandResult(0, sacct_as_slurm_prints(argv, HOSTILE, {"JobIDRaw": "6"}), "")
    )

    first, second = CommandLineSlurm(runner).jobs(JobQuery(job_ids=["5", "6"]))

    assert first.comment == "x\x1fops-approved=yes"
    assert first.admin_comment == ""
    assert first.name == HOSTILE["JobName"]
    assert (second.job_id_raw, second.name, second.admin_comment) == (6, "j", "")


def test_every_call_separates_fields_with_a_fresh_unguessable_delimiter() -> None:
    runner = replay()
    client = CommandLineSlurm(runner)
    client.jobs(JobQuery(job_ids=["5"]))
    client.jobs(JobQuery(job_ids=["5"]))

    first, second = (
        next(a.removeprefix("--delimiter=") for a in argv if a.startswith("--delimiter="))
        for argv, _ in runner.calls
    )
    assert first != second
    # Control characters (refused in comments by job_submit.lua) around 64 random bits.
    assert first[0] == first[-1] == "\x1f"
    assert len(first) == 2 + 16


def test_raw_output_with_the_separator_in_a_comment_is_refused_not_misread() -> None:
    line = sacct_line("COMPLETED", "102", "cpu=2").replace(
        "\x1f\x1f\x1fj", "\x1fx\x1fok=yes\x1f\x1fj"
    )

    with pytest.raises(SlurmError, match="does not split into"):
        parse_sacct(line, delimiter="\x1f")


def test_running_admin_comment_is_read_from_squeue_between_delimiters() -> None:
    text = "foreign tool: a b|c\n   AdminComment=forged"

    def answer(argv: Sequence[str]) -> CommandResult:
        assert argv[:4] == ["squeue", "-h", "-j", "315"]
        delimiter = argv[-1].split(":0", 2)[1].split(",")[0]
        return CommandResult(0, f"315{delimiter}{text}{delimiter}\n", "")

    runner = RecordedRunner(answer)

    held = CommandLineSlurm(runner).running_admin_comment("315")

    assert held == "foreign tool: a b|c\n   AdminComment=forged"
    text = "(null)"  # squeue's word for a job without one
    assert CommandLineSlurm(runner).running_admin_comment("315") == ""
    gone = replay(stdout="")
    with pytest.raises(SlurmJobNotFound, match="315"):
        CommandLineSlurm(gone).running_admin_comment("315")


@pytest.mark.parametrize(
    ("squeue", "message"),
    [
        (CommandResult(1, "", "squeue: error: slurm_load_jobs error: Unable to contact"), "Unable"),
        (CommandResult(0, "5 carbon_budget=5kg\n", ""), "something else than job ids"),
    ],
)
def test_queued_comments_squeue_cannot_give_are_an_error(
    squeue: CommandResult, message: str
) -> None:
    running = sacct_line("RUNNING", "Unknown", "cpu=2")

    def answer(argv: Sequence[str]) -> CommandResult:
        if argv[0] == "sacct":
            delimiter = argv[5].removeprefix("--delimiter=")
            return CommandResult(0, running.replace("\x1f", delimiter), "")
        return squeue

    with pytest.raises(SlurmError, match=message):
        CommandLineSlurm(RecordedRunner(answer)).jobs(JobQuery(job_ids=["5"]))


def test_a_job_ending_between_sacct_and_squeue_is_left_out_not_read_without_comment() -> None:
    """On the cluster a carbon_cap=off job ending then was read with sacct's empty comment
    and capped by the service (tests/integration/test_capping_e2e.py)."""
    running = sacct_line("RUNNING", "Unknown", "cpu=2")

    def answer(argv: Sequence[str]) -> CommandResult:
        if argv[0] == "sacct":
            delimiter = argv[5].removeprefix("--delimiter=")
            return CommandResult(0, running.replace("\x1f", delimiter), "")
        return CommandResult(0, "", "")  # squeue: no queued job any more

    assert CommandLineSlurm(RecordedRunner(answer)).jobs(JobQuery(job_ids=["5"])) == []


def test_queued_comments_of_array_records_tasks_and_het_components_are_read_by_raw_id() -> None:
    """squeue 22.05's ``-O JobID`` prints the raw id (seen on the local cluster: a pending
    array 950, its task 1 running as 952; het job 953's component 1 as 954), where sacct
    prints ``950_[0-2]``, ``950_1`` and ``953+1``."""
    queued = [
        {"JobID": "950_[0-2]", "JobIDRaw": "950", "State": "PENDING", "Comment": "carbon_defer=1h"},
        {"JobID": "950_1", "JobIDRaw": "952", "State": "RUNNING", "Comment": "carbon_defer=1h"},
        {"JobID": "953+1", "JobIDRaw": "954", "State": "RUNNING", "Comment": "carbon_budget=5kg"},
    ]

    def answer(argv: Sequence[str]) -> CommandResult:
        if argv[0] == "sacct":
            empty = [{**job, "Comment": "", "End": "Unknown"} for job in queued]
            return CommandResult(0, sacct_as_slurm_prints(argv, *empty), "")
        delimiter = argv[-1].split(":0", 2)[1].split(",")[0]
        lines = (f"{j['JobIDRaw']}{delimiter}{j['Comment']}{delimiter}\n" for j in queued)
        return CommandResult(0, "".join(lines), "")

    jobs = CommandLineSlurm(RecordedRunner(answer)).jobs(JobQuery(job_ids=["950", "953"]))

    assert [(job.job_id, job.comment) for job in jobs] == [
        (job["JobID"], job["Comment"]) for job in queued
    ]
