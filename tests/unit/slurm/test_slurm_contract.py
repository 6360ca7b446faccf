"""One contract for every SlurmClient: the shipped fake and the command-line client.

Both start from the same records, recorded from Slurm 22.05.8's sacct
(``tests/fixtures/slurm/``). The command-line client runs through its injected
runner, answered by :class:`Recorded2205`: Slurm 22.05's tools as they answered
on the local cluster (the words of scontrol, sacctmgr and squeue are theirs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from slurm_carbon.errors import SlurmError, SlurmJobNotFound
from slurm_carbon.slurm import (
    CommandLineSlurm,
    CommandResult,
    JobQuery,
    RecordedRunner,
    SlurmClient,
)
from slurm_carbon.slurm.commands import SACCT_FIELDS, parse_sacct
from slurm_carbon.slurm.fake import FakeSlurm

RECORDED = Path(__file__).parents[2] / "fixtures" / "slurm"


def recorded_records() -> list[dict[str, str]]:
    """Jobs 6, 8, 7_0..7_2 as sacct printed them, a running job 20, and job 21 not final yet."""
    text = (RECORDED / "sacct_gpu_array_failed.txt").read_text()
    records = [
        dict(zip(SACCT_FIELDS, line.split("\x1f"), strict=True)) for line in text.splitlines()
    ]
    by_id = {record["JobID"]: record for record in records}
    running = {
        **by_id["8"],
        **{"JobID": "20", "JobIDRaw": "20", "State": "RUNNING", "End": "Unknown"},
        "TimelimitRaw": "5",
        "Comment": "train carbon_budget=5kg",
    }
    # Slurm 22.05's accounting can list a job as ended before its start record arrives.
    not_final = {**by_id["6"], "JobID": "21", "JobIDRaw": "21", "ReqTRES": ""}
    return [*records, running, not_final]


class Recorded2205:
    """sacct, squeue, scontrol and sacctmgr of Slurm 22.05 over records, as they answered."""

    def __init__(self, records: list[dict[str, str]]) -> None:
        self.records = records

    def __call__(self, argv: Sequence[str]) -> CommandResult:  # noqa: PLR0911 (one per command)
        match list(argv):
            case ["sacct", *options]:
                return self._sacct(options)
            case ["squeue", "-h", *options, "-O", fields]:
                return self._squeue(options, fields.split(":0", 2)[1].split(",")[0])
            case ["scontrol", "show", "config"]:
                return CommandResult(0, "ClusterName             = sclocal\n", "")
            case ["scontrol", "update", jobid, admin_comment]:
                return self._scontrol_update(
                    jobid.removeprefix("jobid="), admin_comment.removeprefix("AdminComment=")
                )
            case ["scancel", "-v", job_id]:
                return self._scancel(job_id)
            case ["sacctmgr", "-nP", "show", "user", user, "withcoord", "format=user,coord"]:
                lines = (RECORDED / "sacctmgr_user_withcoord.txt").read_text().splitlines()
                return CommandResult(
                    0, "".join(f"{x}\n" for x in lines if x.startswith(f"{user}|")), ""
                )
            case ["sacctmgr", "-i", "modify", "job", "where", jobid, "set", admin_comment]:
                return self._sacctmgr_modify(
                    jobid.removeprefix("jobid="), admin_comment.removeprefix("AdminComment=")
                )
        raise AssertionError(f"not a recorded command: {argv}")

    def _squeue(self, options: list[str], delimiter: str) -> CommandResult:
        if options == ["-a"]:  # every queued job's comment
            return self._squeue_comments(delimiter)
        job_id = options[1]  # -j <id>: its AdminComment
        record = self._find(job_id)
        if record is None or record["End"] != "Unknown":
            return CommandResult(0, "", "")  # squeue lists nothing
        comment = record["AdminComment"] or "(null)"
        return CommandResult(0, f"{job_id}{delimiter}{comment}{delimiter}\n", "")

    def _squeue_comments(self, delimiter: str) -> CommandResult:
        lines = [
            f"{r['JobID']}{delimiter}{r['Comment'] or '(null)'}{delimiter}\n"
            for r in self.records
            if r["End"] == "Unknown"
        ]
        return CommandResult(0, "".join(lines), "")

    def _scontrol_update(self, job_id: str, text: str) -> CommandResult:
        record = self._find(job_id)
        if record is None:
            return CommandResult(1, "", f"Invalid job id specified for job {job_id}\n")
        if record["End"] != "Unknown":
            return CommandResult(1, "", f"Job has already finished for job {job_id}\n")
        record["AdminComment"] = text
        return CommandResult(0, "", "")

    def _scancel(self, job_id: str) -> CommandResult:
        # scancel 22.05 exits 0 whatever happens; -v prints why it could not cancel.
        said = f"scancel: Terminating job {job_id}\n"
        record = self._find(job_id)
        if record is None:
            why = "Invalid job id specified"
        elif record["End"] != "Unknown":
            why = "Job/step already completing or completed"
        else:
            record["State"], record["End"] = "CANCELLED", record["Start"]
            return CommandResult(0, "", said)
        return CommandResult(
            0, "", f"{said}scancel: error: Kill job error on job id {job_id}: {why}\n"
        )

    def _sacctmgr_modify(self, job_id: str, text: str) -> CommandResult:
        record = self._find(job_id)
        if record is None or record["End"] == "Unknown":
            return CommandResult(1, " Nothing modified\n", "")
        record["AdminComment"] = text.lower().replace("'", "`").replace('"', "`")
        return CommandResult(0, f" Modified jobs...\n  {job_id}\n", "")

    def _find(self, job_id: str) -> dict[str, str] | None:
        return next((r for r in self.records if r["JobID"] == job_id), None)

    def _sacct(self, options: list[str]) -> CommandResult:
        delimiter = next(o.removeprefix("--delimiter=") for o in options if "--delimiter=" in o)
        fields = options[options.index("-o") + 1].split(",")
        selected = set(options[options.index("-j") + 1].split(","))
        # sacct 22.05 lists a job's comment only once it has ended.
        lines = [
            delimiter.join(
                "" if field == "Comment" and record["End"] == "Unknown" else record[field]
                for field in fields
            )
            + "\n"
            for record in self.records
            if {record["JobID"], record["JobIDRaw"], record["JobID"].split("_")[0]} & selected
        ]
        return CommandResult(0, "".join(lines), "")


def _fake() -> SlurmClient:
    text = "".join("\x1f".join(r.values()) + "\n" for r in recorded_records())
    return FakeSlurm(
        *parse_sacct(text, delimiter="\x1f"),
        cluster="sclocal",
        coordinators={"nobody": ["k1probe", "k1probe2"], "root": []},
    )


def _command_line() -> SlurmClient:
    return CommandLineSlurm(RecordedRunner(Recorded2205(recorded_records())))


@pytest.fixture(params=[_fake, _command_line], ids=["fake", "command-line"])
def slurm(request: pytest.FixtureRequest) -> SlurmClient:
    make: Callable[[], SlurmClient] = request.param
    return make()


def ids(slurm: SlurmClient, *job_ids: str) -> list[str]:
    return [job.job_id for job in slurm.jobs(JobQuery(job_ids=job_ids))]


def test_jobs_are_selected_by_id_raw_id_or_array_id(slurm: SlurmClient) -> None:
    assert ids(slurm, "7") == ["7_0", "7_1", "7_2"]
    assert ids(slurm, "6", "10") == ["6", "7_1"]
    assert ids(slurm, "999") == []
    assert slurm.cluster_name() == "sclocal"


def test_a_record_is_final_once_it_has_ended_and_its_req_tres_is_set(slurm: SlurmClient) -> None:
    finished = {job.job_id: job.finished for job in slurm.jobs(JobQuery(job_ids=["6", "20", "21"]))}

    assert finished == {"6": True, "20": False, "21": False}


def test_a_finished_jobs_comment_is_lower_cased_as_sacctmgr_writes_it(slurm: SlurmClient) -> None:
    slurm.set_admin_comment("7_1", 'Checked by "OPS" sc1:co2e_g=1.5', finished=True)

    ((job,),) = [slurm.jobs(JobQuery(job_ids=["7_1"]))]
    assert job.admin_comment == "checked by `ops` sc1:co2e_g=1.5"


def test_scontrol_cannot_change_a_job_that_has_ended(slurm: SlurmClient) -> None:
    with pytest.raises(SlurmError, match="Job has already finished for job 6"):
        slurm.set_admin_comment("6", "sc1:x", finished=False)

    ((job,),) = [slurm.jobs(JobQuery(job_ids=["6"]))]
    assert job.admin_comment == "sc1:co2e_g=1.5"


def test_a_running_jobs_comment_keeps_its_case(slurm: SlurmClient) -> None:
    assert slurm.running_admin_comment("20") == ""

    slurm.set_admin_comment("20", "Ops: KEEP", finished=False)

    assert slurm.running_admin_comment("20") == "Ops: KEEP"


def test_jobs_that_are_not_there_are_not_found(slurm: SlurmClient) -> None:
    with pytest.raises(SlurmJobNotFound, match="999"):
        slurm.set_admin_comment("999", "x", finished=True)
    with pytest.raises(SlurmJobNotFound, match="999"):
        slurm.set_admin_comment("999", "x", finished=False)
    with pytest.raises(SlurmJobNotFound, match="999"):
        slurm.running_admin_comment("999")
    with pytest.raises(SlurmJobNotFound, match="6"):
        slurm.running_admin_comment("6")  # ended: squeue no longer lists it
    with pytest.raises(SlurmJobNotFound, match="20"):
        slurm.set_admin_comment("20", "x", finished=True)  # still running: not in sacctmgr's reach


def test_a_comment_of_several_lines_is_refused(slurm: SlurmClient) -> None:
    with pytest.raises(ValueError, match="one line"):
        slurm.set_admin_comment("6", "a\nb", finished=True)


def test_cancel_ends_a_running_job_cancelled(slurm: SlurmClient) -> None:
    slurm.cancel("20", "forecast 9 kg over budget 5 kg")

    ((job,),) = [slurm.jobs(JobQuery(job_ids=["20"]))]
    assert (job.state, job.end_time is not None) == ("CANCELLED", True)


def test_cancel_of_a_job_not_running_is_not_found(slurm: SlurmClient) -> None:
    with pytest.raises(SlurmJobNotFound, match="Invalid job id specified"):
        slurm.cancel("999", "x")
    with pytest.raises(SlurmJobNotFound, match="already completing or completed"):
        slurm.cancel("6", "x")


def test_a_running_jobs_comment_is_read_although_sacct_lists_it_empty(slurm: SlurmClient) -> None:
    jobs = {job.job_id: job.comment for job in slurm.jobs(JobQuery(job_ids=["20", "6"]))}

    assert jobs == {"20": "train carbon_budget=5kg", "6": "carbon_budget=5kg"}


def test_a_jobs_time_limit_is_kept_in_seconds_and_none_when_unlimited(slurm: SlurmClient) -> None:
    limits = {job.job_id: job.time_limit_s for job in slurm.jobs(JobQuery(job_ids=["20", "6"]))}

    assert limits == {"20": 300.0, "6": None}


def test_coordinated_accounts_are_those_sacctmgr_lists(slurm: SlurmClient) -> None:
    # Recorded from 22.05.8 after `sacctmgr add coordinator account=k1probe,k1probe2 names=nobody`.
    assert slurm.coordinated_accounts("nobody") == ["k1probe", "k1probe2"]
    assert slurm.coordinated_accounts("root") == []
    assert slurm.coordinated_accounts("carol") == []  # a user slurmdbd does not know


@pytest.mark.parametrize("user", ["", "a b", "x=y", "a,b", "-n"])
def test_a_user_name_sacctmgr_would_misread_is_refused(user: str) -> None:
    with pytest.raises(SlurmError, match="not a user name"):
        _command_line().coordinated_accounts(user)
