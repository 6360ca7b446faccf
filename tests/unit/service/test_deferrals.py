"""A carbon_defer job's deferral: recorded once when its result is settled, its saving measured."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.config.site import SiteConfig
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.deferrals import asked_delay_s
from slurm_carbon.service.results import settle_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store.deferrals import (
    DeferralRecord,
    DeferralTotals,
    deferral_groups,
    deferral_totals,
    job_deferral,
)
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.models import Deferral
from slurm_carbon.store.reports import ReportQuery
from slurm_carbon.store.results import find_job
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.builders import JOB_START, slurm_job
from tests.unit.service.test_capping import measure

SITE = StaticSite("SE", 1.2)
HOUR = timedelta(hours=1)
SUBMIT = JOB_START - 6 * HOUR  # 04:00; the lua set the begin time to 10:00
END = JOB_START + timedelta(minutes=10)
ISSUED = SUBMIT - timedelta(minutes=5)
# Hourly CI from the submit time: dirty until the job's start, clean for two hours.
CI = [400.0] * 6 + [100.0] * 2 + [300.0] * 10


class Actuals:
    """The stored actual intensity: CI's values, one an hour from SUBMIT."""

    name = "actuals"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        return [
            CiPoint(region, t, 3600, v, "actual", CiKind.ACTUAL, CiSignal.AVERAGE, t)
            for t, v in ((SUBMIT + i * HOUR, v) for i, v in enumerate(CI))
            if t < end and t + HOUR > start
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable(f"no forecast for {region} from {start} ({hours} h)")


def stored_forecast(session: Session, values: Sequence[float], issued: datetime) -> None:
    """A forecast for SE, one value an hour from SUBMIT, issued at ``issued``."""
    add_ci_points(
        session,
        [
            CiPoint(
                "SE", SUBMIT + i * HOUR, 3600, v, "uk", CiKind.FORECAST, CiSignal.AVERAGE, issued
            )
            for i, v in enumerate(values)
        ],
    )
    session.commit()


def deferred(raw: int, comment: str = "carbon_defer=12h") -> SlurmJob:
    return slurm_job(
        raw,
        submit_time=SUBMIT,
        eligible_time=JOB_START,
        end_time=END,
        elapsed_s=600,
        time_limit_s=3600.0,
        comment=comment,
    )


def settle(session: Session, job: SlurmJob, now: datetime = END) -> DeferralRecord | None:
    settle_result(session, job, SITE, Actuals(), now)
    session.commit()
    stored = find_job(session, "sclocal", job.job_id_raw)
    assert stored is not None
    return job_deferral(session, stored.id)


def test_a_deferred_jobs_decision_and_measured_saving_are_stored(session: Session) -> None:
    measure(session, 301, profile=False)  # 10 x 18 kJ from 10:00: 0.05 kWh
    stored_forecast(session, [410.0] * 6 + [90.0] * 2 + [300.0] * 10, ISSUED)

    found = settle(session, deferred(301))

    assert found is not None
    assert found.asked_s == 12 * 3600
    assert (found.submit_time, found.eligible_time) == (SUBMIT, JOB_START)
    assert found.counterfactual_start == SUBMIT
    # A 1 h limit within 12 h: 10:00 at 90 against 410 at submit, from the forecast.
    assert found.expected_saving_pct == pytest.approx(100 * (1 - 90 / 410))
    assert (found.forecast_source, found.forecast_issued) == ("uk", ISSUED)
    # 0.05 kWh x 1.2: 6 g at 100 g/kWh, 24 g at submit (400 g/kWh); 18 g, 75 % less.
    assert found.measured_saving_g == pytest.approx(18.0)
    assert found.measured_saving_pct == pytest.approx(75.0)


def test_the_expectation_uses_only_what_was_stored_at_submit_time(session: Session) -> None:
    measure(session, 302, profile=False)
    stored_forecast(session, [410.0] * 6 + [90.0] * 2 + [300.0] * 10, SUBMIT + HOUR)

    found = settle(session, deferred(302))

    assert found is not None
    assert (found.expected_saving_pct, found.forecast_source, found.forecast_issued) == (
        None,
        None,
        None,
    )
    assert found.measured_saving_pct == pytest.approx(75.0)


def test_a_decision_is_recorded_once(session: Session) -> None:
    measure(session, 303, profile=False)
    stored_forecast(session, [410.0] * 6 + [90.0] * 2 + [300.0] * 10, ISSUED)
    first = settle(session, deferred(303))
    stored_forecast(session, [500.0] * 6 + [50.0] * 2 + [300.0] * 10, ISSUED + timedelta(minutes=1))

    again = settle(session, deferred(303), now=END + HOUR)

    assert again == first
    assert session.scalar(select(func.count()).select_from(Deferral)) == 1


def test_a_job_without_carbon_defer_records_nothing(session: Session) -> None:
    measure(session, 304, profile=False)

    assert settle(session, deferred(304, comment="carbon_budget=5kg")) is None
    assert session.scalar(select(func.count()).select_from(Deferral)) == 0


SIX_HOURS_AUTO = parse_config(
    tomllib.loads(
        'cluster = "c"\n[regions]\ndefault = "SE"\n[pue]\ndefault = 1.2\n'
        "[advice]\ndefer_default_h = 6\n"
    )
)


@pytest.mark.parametrize(
    ("comment", "site", "asked_s"),
    [
        ("x carbon_defer=90m", SITE, 5400),
        ("carbon_defer=auto", SITE, 12 * 3600),  # the [advice] default
        ("carbon_defer=auto", SIX_HOURS_AUTO, 6 * 3600),
        ("carbon_defer=2x", SITE, None),  # refused by the lua: asks for nothing
        ("carbon_cap=off", SITE, None),
    ],
)
def test_the_delay_asked(comment: str, site: StaticSite | SiteConfig, asked_s: int | None) -> None:
    assert asked_delay_s(comment, site) == asked_s


def test_the_totals_sum_the_measured_savings_of_the_selected_jobs(session: Session) -> None:
    for raw in (305, 306, 307):
        measure(session, raw, profile=False)
    settle(session, deferred(305))
    settle(session, deferred(306))
    settle(session, deferred(307, comment="carbon_budget=5kg"))  # not deferred

    every = deferral_totals(session, ReportQuery())
    alice = deferral_totals(session, ReportQuery(users=("alice",)))
    nobody = deferral_totals(session, ReportQuery(users=("bob",)))

    # Each: 18 g more at submission (see the first test).
    assert every == alice
    assert (every.jobs, every.measured_jobs) == (2, 2)
    assert every.measured_saving_g == pytest.approx(36.0)
    assert nobody == DeferralTotals(0, 0, 0.0)


def test_by_user_or_account_the_co2e_at_start_at_submit_and_the_saving(session: Session) -> None:
    for raw in (308, 309, 310, 311):
        measure(session, raw, profile=False)
    settle(session, deferred(308))
    settle(session, deferred(309))
    settle(session, replace(deferred(310), user="bob", account="physics"))
    settle(session, deferred(311, comment="carbon_budget=5kg"))  # not deferred

    by_user = deferral_groups(session, ReportQuery(), "user")
    by_account = deferral_groups(session, ReportQuery(users=("alice",)), "account")

    # Each deferred job: 6 g as it ran, 24 g from its submit time, 18 g saved.
    assert list(by_user) == ["alice", "bob"]
    alice, bob = by_user["alice"], by_user["bob"]
    assert (alice.jobs, alice.measured_jobs, bob.jobs) == (2, 2, 1)
    assert (alice.co2e_at_start_g, alice.co2e_at_submit_g) == pytest.approx((12.0, 48.0))
    assert alice.measured_saving_g == pytest.approx(36.0)
    assert (bob.co2e_at_start_g, bob.co2e_at_submit_g) == pytest.approx((6.0, 24.0))
    assert list(by_account) == ["carbon"]
    assert by_account["carbon"] == alice
    assert deferral_totals(session, ReportQuery()).co2e_at_submit_g == pytest.approx(72.0)
