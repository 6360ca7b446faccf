"""``slurm-carbon report``: each job's energy and CO2e, with sacct's options and habits.

Selection (as sacct): ``-j/--jobs`` (``12`` is a job, every task of array 12 or
every component of het job 12, ``12_3`` one task, ``12+1`` one component),
``-u/--user``, ``-A/--account``, ``-r/--partition``,
``-s/--state`` (names or sacct's abbreviations: CD, F, CA, TO, OOM, ...),
``-S/--starttime`` and ``-E/--endtime`` (sacct's time formats, local time).
A job is reported in the window in which it *ended* (its carbon is settled
then; each job is counted once). Defaults, as sacct's: the window starts at
00:00 today and ends now; with ``-j`` and no ``-S``/``-E`` there is no window.

Output: a table (rich; :mod:`~slurm_carbon.cli.report_table`) with totals,
figures in engineering units (:mod:`slurm_carbon.units`: ``1,289 MWh``,
``553 t``); ``-P/--parsable2``
(``|``-separated, no trailing ``|``, header unless ``-n``; JobName is the last
field and may itself hold ``|``: split with ``maxsplit=16``); ``--csv``;
``--json`` (schema: :data:`~slurm_carbon.cli.report_json.REPORT_JSON_SCHEMA`).
The machine outputs keep exact numbers in fixed units (kWh, g). Control
characters in names are escaped in every output (JSON escapes them itself). ``--by
job|user|account|partition|day`` prints totals per group instead of jobs (a day is
the UTC day the jobs ended). A job
without a result yet is ``pending`` (empty figures, never zero); estimated
figures (estimated energy, or a yearly-mean carbon intensity) are marked.
``-j`` naming exactly one job shows its detail: the split by device and its
energy (and carbon intensity, when the store holds it) over time; a running
job's detail and JSON item also hold its forecast (so far, remaining, total
with a 90 % interval, its end, the share of its budgets).

Permissions: the caller is the real uid. Users see only their own jobs and are
refused (not shown an empty table) when they ask for someone else's. Admins
(root, and the ``[admins]`` users and groups of the site configuration,
``--config`` / ``$SLURM_CARBON_CONFIG``) see everything. This is a courtesy of
the command, not a security boundary: whoever can read the database URL can
read the database. Through the service (``--service-url``,
``$SLURM_CARBON_SERVICE_URL`` or the site's ``[api] url``;
:mod:`~slurm_carbon.cli.report_service`) it is one: the service knows the caller
by a MUNGE credential and decides what they see; the output is the same, byte
for byte, the detail view (``-j`` with one job) included.

Totals come with everyday equivalents (car km, phone charges) whose factors
and sources are printed beside them (:mod:`slurm_carbon.accounting.equivalents`).
The detail view adds, from :mod:`slurm_carbon.accounting`, the cleanest start
within the configured window, the same job in the configured other regions,
and the job's energy card (Markdown).
"""

from __future__ import annotations

import contextlib
import csv
import grp
import json
import os
import pwd
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar, get_args

import click
import requests
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.report_format import (
    DEFERRAL_COLUMNS,
    GROUP_COLUMNS,
    JOB_COLUMNS,
    deferral_fields,
    group_fields,
    job_fields,
    parse_jobs,
    parse_names,
)
from slurm_carbon.cli.report_json import equivalents_json, group_json
from slurm_carbon.cli.report_service import HttpGet, ServiceSource
from slurm_carbon.cli.report_source import ReportSource, StoreSource
from slurm_carbon.cli.report_table import show_table
from slurm_carbon.cli.web import check_url, munge_now
from slurm_carbon.config import AdminsConfig, CounterfactualConfig, SiteConfig, load_config
from slurm_carbon.errors import ConfigError, StoreError
from slurm_carbon.intensity.chain import BestSeries
from slurm_carbon.service.api.documents import deferral_totals_json
from slurm_carbon.service.detail import DetailContext
from slurm_carbon.slurm.states import parse_states
from slurm_carbon.slurm.times import parse_time
from slurm_carbon.store import make_engine, session_factory, transaction
from slurm_carbon.store.deferrals import DeferralTotals
from slurm_carbon.store.intensity import stored_actuals
from slurm_carbon.store.reports import (
    GroupBy,
    GroupTotals,
    JobRow,
    ReportQuery,
    foreign_jobs,
)

__all__ = ["Caller", "current_caller", "report"]

_T = TypeVar("_T")
# Rows between two updates of the progress display.
_PROGRESS_EVERY = 2000


@dataclass(frozen=True)
class Caller:
    """Who runs the report, and when: the real uid's name, its groups, the local time.

    Through the service (``--service-url``), ``credential`` proves who they are
    (None: ``munge -n``) and ``http`` sends the requests (None: :mod:`requests`).
    """

    name: str
    groups: frozenset[str] = frozenset()
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    credential: Callable[[], str] | None = None
    http: HttpGet | None = None


def current_caller() -> Caller:
    """The real uid's user name and groups (primary and supplementary)."""
    entry = pwd.getpwuid(os.getuid())
    groups = {group.gr_name for group in grp.getgrall() if entry.pw_name in group.gr_mem}
    with contextlib.suppress(KeyError):
        groups.add(grp.getgrgid(entry.pw_gid).gr_name)
    return Caller(entry.pw_name, frozenset(groups))


@click.command()
@click.option(
    "-j",
    "--jobs",
    "jobs_text",
    help="Job ids, comma-separated: 12, 12_3 (array task), 12+1 (het job component).",
)
@click.option("-u", "--user", "users_text", help="Users, comma-separated.")
@click.option("-A", "--account", "accounts_text", help="Accounts, comma-separated.")
@click.option("-r", "--partition", "partitions_text", help="Partitions, comma-separated.")
@click.option("-s", "--state", "states_text", help="States or abbreviations: CD,F,CA,TO,OOM,...")
@click.option("-S", "--starttime", help="Jobs that ended at or after this (default: 00:00 today).")
@click.option("-E", "--endtime", help="Jobs that ended at or before this (default: now).")
@click.option(
    "--by",
    type=click.Choice(get_args(GroupBy)),
    help="Totals per array/job, user, account, partition or day (UTC, when jobs ended)"
    " instead of jobs.",
)
@click.option(
    "-P",
    "--parsable2",
    "output",
    flag_value="parsable2",
    help="'|'-separated, exact figures in kWh and g (for machines).",
)
@click.option("--csv", "output", flag_value="csv", help="CSV (RFC 4180), as -P.")
@click.option(
    "--json", "output", flag_value="json", help="JSON, exact figures (schema in the docs)."
)
@click.option("-n", "--noheader", is_flag=True, help="No header line (-P and --csv).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SLURM_CARBON_CONFIG",
    help="Site configuration: [admins], [counterfactual] [env: SLURM_CARBON_CONFIG].",
)
@click.option(
    "--service-url",
    envvar="SLURM_CARBON_SERVICE_URL",
    callback=lambda ctx, param, value: None if value is None else check_url(ctx, param, value),
    help="Read through the service's read API, as yourself (MUNGE), not the database"
    " [env: SLURM_CARBON_SERVICE_URL; else the site TOML's [api] url].",
)
@url_option
@click.pass_context
def report(  # noqa: PLR0913, PLR0917 (click passes sacct's options, one parameter each)
    ctx: click.Context,
    jobs_text: str | None,
    users_text: str | None,
    accounts_text: str | None,
    partitions_text: str | None,
    states_text: str | None,
    starttime: str | None,
    endtime: str | None,
    by: GroupBy | None,
    output: str | None,
    noheader: bool,
    config_path: Path | None,
    service_url: str | None,
    url: str,
) -> None:
    """Energy and CO2e of jobs, sacct-style; one job (-j ID) in detail.

    Jobs are those that ended between -S (default 00:00 today) and -E (default
    now); with -j and neither, whenever they ended. TotalkWh is the facility's
    energy (devices x PUE). The table shows figures in engineering units (Wh to
    GWh, g to kt); -P, --csv and --json keep exact numbers in kWh and grams.
    Parsable output puts JobName last. Times run from 1970 to 9998, job ids to
    4294967295, and a list (-j, -u, -A, -r) holds at most 10,000 items.

    With --service-url (or SLURM_CARBON_SERVICE_URL, or [api] url in the site
    TOML) the service answers, and decides what you may see; each request waits
    60 s at most.
    """
    caller = ctx.find_object(Caller) or current_caller()
    try:
        query = _query(
            jobs=jobs_text,
            users=users_text,
            accounts=accounts_text,
            partitions=partitions_text,
            states=states_text,
        )
        query = _window(query, caller.now, starttime, endtime)
        site = None if config_path is None else load_config(config_path)
        if service_url is None and site is not None and site.api.url is not None:
            service_url = site.api.url.rstrip("/")
        if service_url is not None:
            service = _service_source(service_url, caller, site)
            _output(service, query, by, output, noheader=noheader, now=caller.now)
            return
        engine = make_engine(url)
        try:
            factory = session_factory(engine)
            with transaction(factory) as session:
                admins = site.admins if site is not None else AdminsConfig()
                if not admins.is_admin(caller.name, caller.groups):
                    query = _restrict_to_caller(session, query, caller)
                detail = DetailContext(
                    counterfactual=site.counterfactual if site else CounterfactualConfig(),
                    intensity=BestSeries(stored_actuals(factory)),
                    site=site,
                    now=caller.now.astimezone(UTC),
                )
                source = StoreSource(session, detail)
                _output(source, query, by, output, noheader=noheader, now=caller.now)
        finally:
            engine.dispose()
    except (ConfigError, StoreError) as err:
        raise click.ClickException(str(err)) from err


def _service_source(url: str, caller: Caller, site: SiteConfig | None) -> ServiceSource:
    """The read API at ``url``, each request with a fresh credential of ``caller``."""
    credential = caller.credential
    if credential is None:
        socket = None if site is None or site.api.munge_socket is None else site.api.munge_socket
        credential = partial(munge_now, None if socket is None else Path(socket))
    http = caller.http
    if http is None:
        http = requests.Session().get
    return ServiceSource(url, credential, http)


def _output(  # noqa: PLR0913 (what report was asked)
    source: ReportSource,
    query: ReportQuery,
    by: GroupBy | None,
    output: str | None,
    *,
    noheader: bool,
    now: datetime,
) -> None:
    """Write the report; the jobs are read (streamed) only when they are shown."""
    writer = _Writer(sys.stdout, noheader=noheader)
    groups = source.totals(query, by) if by else None
    deferred = source.deferral_groups(query, by) if by in {"user", "account"} else None
    if output == "json":
        overall = source.totals(query)[0]
        items = () if groups is not None else _progress(source.items(query))
        writer.json(
            query=query,
            by=by,
            items=items,
            groups=groups,
            overall=overall,
            deferrals=source.deferrals(query),
            deferral_groups=deferred,
            now=now,
        )
    elif output in ("parsable2", "csv"):
        write = writer.parsable2 if output == "parsable2" else writer.csv
        if groups is not None:
            write((), groups, deferred)
        else:
            write(_progress(source.jobs(query)), None)
    elif groups is not None:
        show_table(source, query, by, groups=groups)
    else:
        show_table(source, query, None, rows=_progress(source.jobs(query)))


def _query(
    *,
    jobs: str | None,
    users: str | None,
    accounts: str | None,
    partitions: str | None,
    states: str | None,
) -> ReportQuery:
    return ReportQuery(
        jobs=() if jobs is None else parse_jobs(jobs),
        users=() if users is None else parse_names(users, "user"),
        accounts=() if accounts is None else parse_names(accounts, "account"),
        partitions=() if partitions is None else parse_names(partitions, "partition"),
        states=() if states is None else parse_states(states),
    )


def _window(
    query: ReportQuery, now: datetime, starttime: str | None, endtime: str | None
) -> ReportQuery:
    if query.jobs and starttime is None and endtime is None:
        return query
    start = parse_time("midnight" if starttime is None else starttime, now)
    end = now if endtime is None else parse_time(endtime, now)
    if start > end:
        raise ConfigError(f"start {start:%Y-%m-%dT%H:%M:%S} is after end {end:%Y-%m-%dT%H:%M:%S}")
    return replace(query, start=start.astimezone(UTC), end=end.astimezone(UTC))


def _restrict_to_caller(session: Any, query: ReportQuery, caller: Caller) -> ReportQuery:
    others = sorted(set(query.users) - {caller.name})
    if others:
        raise ConfigError(
            f"permission denied: {caller.name} may only see their own jobs, not those of"
            f" {', '.join(others)} (ask an admin)"
        )
    foreign = foreign_jobs(session, query.jobs, caller.name)
    if foreign:
        raise ConfigError(
            f"permission denied: {caller.name} may only see their own jobs, and job"
            f" {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''} is not"
            f" {caller.name}'s (ask an admin)"
        )
    return replace(query, users=(caller.name,))


def _progress(rows: Iterable[_T]) -> Iterator[_T]:
    """The rows, counted on stderr while they stream in, if stderr is a terminal."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield from rows
        return
    columns = (SpinnerColumn(), TextColumn("reading jobs: {task.completed:,}"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("jobs", total=None)
        count = 0
        for count, row in enumerate(rows, 1):
            if count % _PROGRESS_EVERY == 0:
                progress.update(task, completed=count)
            yield row
        progress.update(task, completed=count)


class _Writer:
    """The machine-readable outputs, streamed line by line."""

    def __init__(self, out: IO[str], *, noheader: bool) -> None:
        self._out = out
        self._noheader = noheader

    def parsable2(
        self,
        rows: Iterable[JobRow],
        groups: list[GroupTotals] | None,
        deferred: dict[str, DeferralTotals] | None = None,
    ) -> None:
        write = self._out.write
        if groups is not None:
            if not self._noheader:
                write("|".join(_group_columns(deferred)) + "\n")
            for group in groups:
                write("|".join(_group_line(group, deferred)) + "\n")
            return
        if not self._noheader:
            write("|".join(JOB_COLUMNS) + "\n")
        batch: list[str] = []
        for row in rows:
            batch.append("|".join(job_fields(row)))
            if len(batch) >= 1000:
                write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            write("\n".join(batch) + "\n")

    def csv(
        self,
        rows: Iterable[JobRow],
        groups: list[GroupTotals] | None,
        deferred: dict[str, DeferralTotals] | None = None,
    ) -> None:
        writer = csv.writer(self._out, lineterminator="\n")
        if groups is not None:
            if not self._noheader:
                writer.writerow(_group_columns(deferred))
            writer.writerows(_group_line(group, deferred) for group in groups)
            return
        if not self._noheader:
            writer.writerow(JOB_COLUMNS)
        writer.writerows(job_fields(row) for row in rows)

    def json(  # noqa: PLR0913 (the parts of one document)
        self,
        *,
        query: ReportQuery,
        by: GroupBy | None,
        items: Iterable[dict[str, Any]],
        groups: list[GroupTotals] | None,
        overall: GroupTotals,
        deferrals: DeferralTotals,
        deferral_groups: dict[str, DeferralTotals] | None,
        now: datetime,
    ) -> None:
        write = self._out.write
        head: dict[str, Any] = {
            "schema_version": 1,
            "generated_at": now.astimezone(UTC).isoformat(),
            "window": {
                "start": None if query.start is None else query.start.isoformat(),
                "end": None if query.end is None else query.end.isoformat(),
            },
        }
        if by is not None:
            head["by"] = by
        text = _json(head)
        write(text[:-1])
        if groups is not None:
            write(', "groups": ' + _json([group_json(group) for group in groups]))
        else:
            write(', "jobs": [')
            for index, item in enumerate(items):
                write(("\n" if index == 0 else ",\n") + _json(item))
            write("]")
        write(', "totals": ' + _json(group_json(overall)))
        write(', "deferrals": ' + _json(deferral_totals_json(deferrals)))
        if deferral_groups is not None:
            found = [{"key": key, **deferral_totals_json(d)} for key, d in deferral_groups.items()]
            write(', "deferral_groups": ' + _json(found))
        write(', "equivalents": ' + _json(equivalents_json(overall.co2e_g)) + "}\n")


def _group_columns(deferred: dict[str, DeferralTotals] | None) -> tuple[str, ...]:
    """A ``--by`` line's columns; with ``--by user|account`` the deferrals' after them."""
    return GROUP_COLUMNS if deferred is None else (*GROUP_COLUMNS, *DEFERRAL_COLUMNS)


def _group_line(group: GroupTotals, deferred: dict[str, DeferralTotals] | None) -> list[str]:
    if deferred is None:
        return group_fields(group)
    return [*group_fields(group), *deferral_fields(deferred.get(group.key or ""))]


def _json(value: Any) -> str:
    """Strict JSON: a NaN or infinity left in ``value`` is a bug, not ``NaN``/``Infinity``."""
    return json.dumps(value, allow_nan=False)
