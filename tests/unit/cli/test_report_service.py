"""``slurm-carbon report --service-url``: the read API's data, printed byte for byte as the store's.

The service runs in-process (Starlette's TestClient) over the same database the
report reads directly; MUNGE is faked at the ``unmunge`` boundary
(:class:`~tests.unit.service.test_api_auth.RecordedUnmunge`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_service import SERVICE_TIMEOUT_S
from slurm_carbon.config import load_config
from slurm_carbon.service import create_app
from slurm_carbon.service.api import MungeDecoder, ReadAccess
from slurm_carbon.store import (
    NewInterval,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    make_engine,
    session_factory,
    upgrade,
    upsert_job,
)
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.unit.cli import test_report_detail_agrees as agrees
from tests.unit.cli import test_report_forecast as forecast
from tests.unit.cli.test_report_budget import NOW as BUDGET_NOW
from tests.unit.cli.test_report_budget import url as budget_url
from tests.unit.cli.test_report_caps import NOW as CAPS_NOW
from tests.unit.cli.test_report_caps import measured as slowdown_url
from tests.unit.cli.test_report_caps import url as caps_url
from tests.unit.cli.test_report_data import DAY, NOW, seed
from tests.unit.cli.test_report_deferral import NOW as DEFERRAL_NOW
from tests.unit.cli.test_report_deferral import url as deferral_url
from tests.unit.cli.test_report_detail_agrees import url as agrees_url
from tests.unit.cli.test_report_forecast import url as forecast_url
from tests.unit.service.test_api_auth import ALICE, FORGED, GOOD, ROOT, RecordedUnmunge, users

# Other tests' stores, each with its jobs in detail (fixtures, shared).
__all__ = [
    "agrees_url",
    "budget_url",
    "caps_url",
    "deferral_url",
    "forecast_url",
    "slowdown_url",
]

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.usefixtures("local_time_utc")

SERVICE = "http://testserver"
# The site both modes read: admins are root and the group ops.
SITE_TOML = 'cluster = "tc"\n[regions]\ndefault = "DE"\n[pue]\ndefault = 1.5\n'
SITE_TOML += '[admins]\ngroups = ["ops"]\n'
EVERYTHING = ["-S", "2024-01-01"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, TestClient]]:
    """The report's jobs in a SQLite file, the site TOML, and the service over both."""
    folder = tmp_path_factory.mktemp("report_service")
    url = f"sqlite:///{folder / 'report.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        ids = seed(session)
        # Job 100 also drew 900 kJ on a second node's GPU, 10:00-10:30: its detail has
        # an energy-by-node table (gpu01 5.4 MJ = 1,500 Wh, 86 %; gpu02 250 Wh, 14 %).
        cluster = get_or_create_cluster(session, "tc")
        node = get_or_create_node(session, cluster.id, "gpu02")
        gpu = get_or_create_device(session, node.id, "GPU-2", kind=DeviceKind.GPU, minor=0)
        start = DAY + timedelta(hours=10)
        add_intervals(
            session,
            [
                NewInterval(ids[100], node.id, gpu.id, start, start + timedelta(minutes=30),
                            900.0 * 1000, EnergyMethod.COUNTER, Sharing.EXCLUSIVE)
            ],
        )  # fmt: skip
        # Het job 843: components 843+0 (raw 843) and 843+1 (raw 844), pending, ended
        # before every window these tests list (only -j finds it).
        for raw, offset in ((843, 0), (844, 1)):
            upsert_job(session, cluster.id, raw, het_job_id=843, het_job_offset=offset,
                       user_name="alice", end_time=DAY - timedelta(days=400))  # fmt: skip
    engine.dispose()
    config = folder / "site.toml"
    config.write_text(SITE_TOML)
    access = ReadAccess(
        site=load_config(config), decoder=MungeDecoder(runner=RecordedUnmunge()), users=users
    )
    with TestClient(create_app(url, clock=lambda: NOW, read_access=access)) as client:
        yield url, config, client


def via(client: TestClient) -> Any:
    """``client.get`` as the report calls it (the TestClient refuses ``timeout``)."""

    def get(url: str, *, timeout: float, **kwargs: Any) -> Any:
        assert timeout == SERVICE_TIMEOUT_S
        return client.get(url, **kwargs)

    return get


def run(args: list[str], caller: Caller, env: Mapping[str, str | None] | None = None) -> Result:
    return CliRunner(env={"SLURM_CARBON_SERVICE_URL": None, **(env or {})}).invoke(
        cli, ["report", *args], obj=caller
    )


def both(
    world: tuple[str, Path, TestClient], args: list[str], name: str, uid: int
) -> tuple[Result, Result]:
    url, config, client = world
    direct = run(["--url", url, "--config", str(config), *args], Caller(name, now=NOW))
    through = Caller(name, now=NOW, credential=lambda: GOOD[uid], http=via(client))
    served = run(["--service-url", SERVICE, "--config", str(config), *args], through)
    return direct, served


@pytest.mark.parametrize(
    "args",
    [
        [],
        EVERYTHING,
        ["-P", *EVERYTHING],
        ["-P", "-n", "-s", "CD,TO"],
        ["--csv", *EVERYTHING],
        ["--json", *EVERYTHING],
        ["--json", "-A", "physics"],
        ["--by", "account", *EVERYTHING],
        ["--by", "user", "-P", *EVERYTHING],
        ["--by", "job", "--json", *EVERYTHING],
        ["--by", "day", *EVERYTHING],
        ["--by", "day", "-P", *EVERYTHING],
        ["-j", "200"],
        ["-j", "101,103"],
        ["-j", "100"],
        ["-j", "100", "--json"],
        ["-j", "100", "-P"],
        ["-j", "101"],
        ["-j", "103"],
        ["-j", "200_2"],
        ["-j", "843"],  # a het job: both its components, as sacct -j 843 lists them
        ["-j", "843+1"],
        ["-j", "843+1", "--json"],
        ["-j", "999"],  # not stored: an empty table in both modes (as sacct -j shows none)
    ],
)
def test_every_output_is_the_databases_byte_for_byte(
    world: tuple[str, Path, TestClient], args: list[str]
) -> None:
    direct, served = both(world, args, "root", ROOT)
    assert direct.exit_code == 0, direct.output
    assert served.exit_code == 0, served.output
    assert served.stdout == direct.stdout
    # Not empty, and root sees everyone's jobs (bob's 102 is in the listing of all).
    assert len(served.stdout) > 100


def test_the_tables_notes_come_from_the_service_too(world: tuple[str, Path, TestClient]) -> None:
    direct, served = both(world, EVERYTHING, "root", ROOT)
    assert served.stdout == direct.stdout
    # Job 101 used FR's yearly mean although FR's hourly figures are stored.
    assert "YEARLY MEAN carbon intensity for FR" in served.stdout
    assert "of job(s) 101." in served.stdout
    assert "Total: 7 jobs (1 pending, 1 estimated): 2,250 g CO2e" in served.stdout


def test_a_user_sees_their_own_jobs_as_the_database_shows_them(
    world: tuple[str, Path, TestClient],
) -> None:
    direct, served = both(world, ["-P", "-n", *EVERYTHING], "alice", ALICE)
    assert served.stdout == direct.stdout
    listed = [line.split("|")[0] for line in served.stdout.splitlines()]
    assert listed == ["100", "101", "200_1", "200_2"]


def test_pages_are_followed_and_each_request_has_a_fresh_credential(
    world: tuple[str, Path, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("slurm_carbon.cli.report_service.PAGE_LIMIT", 2)
    _url, config, client = world
    made: list[str] = []
    sent: list[dict[str, Any]] = []

    def credential() -> str:
        made.append(GOOD[ROOT])
        return GOOD[ROOT]

    def get(url: str, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return via(client)(url, **kwargs)

    result = run(
        ["-P", "-n", *EVERYTHING, "--config", str(config)],
        Caller("root", now=NOW, credential=credential, http=get),
        env={"SLURM_CARBON_SERVICE_URL": SERVICE},
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 7
    assert len(made) == 4
    assert {kwargs["timeout"] for kwargs in sent} == {SERVICE_TIMEOUT_S}


def test_the_flag_comes_before_the_environment_and_the_site_toml(
    world: tuple[str, Path, TestClient], tmp_path: Path
) -> None:
    _url, _config, client = world
    asked: list[str] = []

    def get(url: str, **kwargs: Any) -> Any:
        base, path = url.split("/api/", maxsplit=1)
        asked.append(base)
        return via(client)(f"{SERVICE}/api/{path}", **kwargs)

    config = tmp_path / "site.toml"
    config.write_text(SITE_TOML + '[api]\nurl = "http://toml.example:1/"\n')
    caller = Caller("root", now=NOW, credential=lambda: GOOD[ROOT], http=get)
    env = {"SLURM_CARBON_SERVICE_URL": "http://env.example:2"}
    for args, environment, expected in (
        (["--service-url", "http://flag.example:3"], env, "http://flag.example:3"),
        ([], env, "http://env.example:2"),
        ([], {}, "http://toml.example:1"),
    ):
        asked.clear()
        result = run(["-P", "--config", str(config), *args], caller, environment)
        assert result.exit_code == 0, result.output
        assert set(asked) == {expected}


class Answer:
    """A canned HTTP answer."""

    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self._body = body

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("not JSON")
        return self._body


def _unreachable(url: str, **_kwargs: Any) -> Any:
    raise requests.ConnectionError(f"refused: {url}")


@pytest.mark.parametrize(
    ("args", "uid", "http", "words"),
    [
        (
            ["-u", "bob"],
            ALICE,
            None,
            "the service refused (403): alice may only see their own jobs, not those of bob",
        ),
        (
            ["-j", "102"],
            ALICE,
            None,
            "the service refused (403): alice may only see their own jobs, and job 102 is not"
            " among them",
        ),
        ([], FORGED, None, "the service refused (401): "),
        ([], ROOT, _unreachable, "cannot reach the service at http://testserver: ConnectionError"),
        (
            [],
            ROOT,
            lambda url, **kw: Answer(503, {"error": "munged is not answering"}),
            "the service refused (503): munged is not answering",
        ),
        (
            [],
            ROOT,
            lambda url, **kw: Answer(502, None),
            "the service refused (502): no explanation",
        ),
    ],
)
def test_a_refusal_or_failure_is_one_line_exit_1(
    world: tuple[str, Path, TestClient], args: list[str], uid: int | str, http: Any, words: str
) -> None:
    _url, config, client = world
    credential = uid if isinstance(uid, str) else GOOD[uid]
    caller = Caller(
        "alice", now=NOW, credential=lambda: credential, http=via(client) if http is None else http
    )
    result = run(["--service-url", SERVICE, "--config", str(config), *args], caller)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_bad_url_in_the_site_toml_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(SITE_TOML + '[api]\nurl = "ftp://carbon.example.org"\n')
    result = run(["--config", str(config)], Caller("root", now=NOW))
    assert result.exit_code == 1
    assert "api.url" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_one_job_in_detail_is_the_databases_with_every_part(
    world: tuple[str, Path, TestClient],
) -> None:
    direct, served = both(world, ["-j", "100"], "root", ROOT)
    assert served.exit_code == 0, served.output
    assert served.stdout == direct.stdout
    shown = " ".join(served.stdout.split())
    # Job 100's result, its two nodes, its intervals (gpu02's 250 Wh in the first), the card.
    assert "Job 100 (job)" in shown
    assert "gpu01 │ 1,500 Wh │ 1,000 Wh │ 86 %" in shown
    assert "gpu02 │ 250 Wh │ 250 Wh │ 14 %" in shown
    assert "03-14 10:00:00 │ 03-14 10:30:00 │ 750 Wh │ 250 Wh" in shown
    assert "| Emissions | 1,000 g CO2e |" in shown


def test_a_user_sees_their_own_jobs_detail_as_the_database_shows_it(
    world: tuple[str, Path, TestClient],
) -> None:
    direct, served = both(world, ["-j", "100"], "alice", ALICE)
    assert served.exit_code == 0, served.output
    assert served.stdout == direct.stdout
    assert "Job 100 (job)" in served.stdout


def test_a_job_gone_between_the_listing_and_its_detail_is_one_line(
    world: tuple[str, Path, TestClient],
) -> None:
    _url, config, client = world

    def get(url: str, **kwargs: Any) -> Any:
        if url.endswith("/api/v1/jobs/100"):
            return Answer(404, {"error": "no job 100 in the store"})
        return via(client)(url, **kwargs)

    caller = Caller("root", now=NOW, credential=lambda: GOOD[ROOT], http=get)
    result = run(["--service-url", SERVICE, "--config", str(config), "-j", "100"], caller)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "Error: the service refused (404): no job 100 in the store"


def compare(url: str, now: datetime, args: list[str], site: Path | None = None) -> str:
    """``report`` on the store at ``url`` and through a service over it, as root: the same."""
    config = [] if site is None else ["--config", str(site)]
    access = ReadAccess(
        site=None if site is None else load_config(site),
        decoder=MungeDecoder(runner=RecordedUnmunge()),
        users=users,
    )
    direct = run(["--url", url, *config, *args], Caller("root", now=now))
    with TestClient(create_app(url, clock=lambda: now, read_access=access)) as client:
        through = Caller("root", now=now, credential=lambda: GOOD[ROOT], http=via(client))
        served = run(["--service-url", SERVICE, *config, *args], through)
    assert direct.exit_code == 0, direct.output
    assert served.exit_code == 0, served.output
    assert served.stdout == direct.stdout
    return " ".join(served.stdout.split())


# The stores of the report's other tests: a job in detail, and words its detail must show.
STORES = [
    ("caps_url", CAPS_NOW, "1", "Power caps"),
    ("slowdown_url", CAPS_NOW, "4", "Slowdown 5.3 % against its own profile"),
    ("budget_url", BUDGET_NOW, "2", "Action notify (done)"),
    ("budget_url", BUDGET_NOW, "3", "Action cancel (failed)"),
    ("deferral_url", DEFERRAL_NOW, "7", "Deferred 06:00:00 by carbon_defer=12h"),
    ("deferral_url", DEFERRAL_NOW, "8", "no expected saving"),
]


@pytest.mark.parametrize("case", STORES)
@pytest.mark.parametrize("output", [[], ["--json"], ["-P"]])
def test_capped_budgeted_and_deferred_jobs_in_detail_are_the_databases(
    request: pytest.FixtureRequest, case: tuple[str, datetime, str, str], output: list[str]
) -> None:
    store, now, job, words = case
    shown = compare(request.getfixturevalue(store), now, ["-S", "2026-11-01", "-j", job, *output])
    if not output:
        assert words in shown


@pytest.mark.parametrize("job", ["77", "78"])
def test_a_running_job_with_its_forecast_in_detail_is_the_databases(
    forecast_url: str, tmp_path: Path, job: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(forecast.SITE_TOML)
    shown = compare(forecast_url, forecast.NOW, ["-j", job], site)
    assert ("Forecast (an estimate" in shown) is (job == "77")
    assert compare(forecast_url, forecast.NOW, ["-j", job, "--json"], site)


def test_a_recomputed_job_with_its_card_in_detail_is_the_databases(
    agrees_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(agrees.SITE_TOML)
    agrees._settle(agrees_url, site)
    shown = compare(agrees_url, agrees.NOW, ["-j", "41"], site)
    assert "Energy card" in shown
    assert "Cleanest start within" in shown
