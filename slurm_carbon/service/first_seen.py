"""A ``carbon_defer`` job's decision recorded when the service first sees it.

At each sweep the writer's :class:`~slurm_carbon.service.queueing.Queuer` calls
:func:`record_first_seen`: ``sacct`` lists the jobs pending or running, and each
``carbon_defer`` job whose decision is not stored yet is stored with it
(:func:`~slurm_carbon.service.deferrals.record_decision`): the delay asked, the begin
time Slurm holds then (the one ``job_submit.lua`` set, before anyone moves it), and the
saving expected from the forecasts the store holds at that moment. A pending array that
has not split into tasks is one record (its id the array's); its decision is the
array's, and each task, a job of its own once split, gets the same. A job first seen
after it ended gets its decision recomputed when its result is settled
(:func:`~slurm_carbon.service.deferrals.settle_deferral`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slurm_carbon.accounting.job_words import MAX_DEFER_S
from slurm_carbon.errors import SlurmError
from slurm_carbon.service.deferrals import asked_delay_s, record_decision
from slurm_carbon.service.results import store_job
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import JobQuery, SlurmClient, SlurmJob
from slurm_carbon.slurm.hostlist import expand_hostlist
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.deferrals import job_deferral
from slurm_carbon.store.results import find_job
from slurm_carbon.text import escape_control

__all__ = ["FIRST_SEEN_STATES", "SEEN_AHEAD", "record_first_seen"]

logger = logging.getLogger(__name__)

#: The states in which :func:`record_first_seen` records a job's decision.
FIRST_SEEN_STATES = ("PENDING", "RUNNING")
#: How far ahead ``sacct -s PENDING,RUNNING -S now -E <now + this>`` reaches. slurmdbd
#: (22.05) lists a pending job only when its eligible time is before ``-E`` (which
#: defaults to ``-S`` with ``-s``): a deferred job's begin time is at most
#: ``MAX_DEFER_S`` after its submission, so the longest delay and an hour's margin reach
#: every one (a job with its own later ``--begin`` is not deferred; it is recorded at
#: its settle). A running job is listed whatever ``-E`` is.
SEEN_AHEAD = timedelta(seconds=MAX_DEFER_S, hours=1)


def _first_node(job: SlurmJob) -> str:
    """The job's first node ("" while pending: sacct says "None assigned")."""
    if job.start_time is None or not job.node_list:
        return ""
    try:
        return expand_hostlist(job.node_list)[0]
    except (SlurmError, IndexError):
        return ""


def record_first_seen(
    factory: SessionFactory, slurm: SlurmClient, site: Site, now: datetime
) -> int:
    """Record the decision of each ``carbon_defer`` job pending or running, seen first now.

    ``sacct -s PENDING,RUNNING`` from ``now`` to :data:`SEEN_AHEAD`; a job whose decision is
    stored is left as it is; the expected saving is from the forecasts the store holds
    at ``now``. A pending array's record (``<id>_[0-3]``, not split into tasks yet) is
    recorded as the array's decision, which each task inherits when it appears
    (:func:`~slurm_carbon.service.deferrals.record_decision`).
    Returns how many were recorded; a failing sacct is logged and records none (the
    settle records the job's decision, recomputed, once it has ended).
    """
    try:
        query = JobQuery(states=FIRST_SEEN_STATES, start=now, end=now + SEEN_AHEAD)
        jobs = slurm.jobs(query)
    except SlurmError as err:
        logger.info("deferrals not looked for: %s", escape_control(str(err)))
        return 0
    recorded = 0
    for job in jobs:
        if job.state not in FIRST_SEEN_STATES or job.end_time is not None:
            continue  # ended since sacct's answer was made
        delay_s = asked_delay_s(job.comment, site)
        if delay_s is None:
            continue
        with transaction(factory) as session:
            stored = find_job(session, job.cluster, job.job_id_raw)
            if stored is not None and job_deferral(session, stored.id) is not None:
                continue
            job_id = store_job(session, job)
            region = site.region_for(job.partition, _first_node(job))
            recorded += record_decision(
                session, job, job_id, delay_s, region, known_at=now, now=now
            )
    return recorded
