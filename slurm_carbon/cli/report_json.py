"""The ``slurm-carbon report --json`` document: its items and its JSON schema.

``--json`` documents follow :data:`REPORT_JSON_SCHEMA`; a figure that is not
finite (a corrupt stored value) is ``null`` there and named in the item's
``non_finite`` list. Outside text is left as is: JSON's own escaping is safe.

A running job's item holds its ``forecast``
(:class:`~slurm_carbon.service.detail.RunningForecast`); any other job's, null.
An item's ``budget`` holds the budgets the job gave and the action taken on them
(null without either). Its ``caps`` lists the power caps decided for its GPUs,
by period start (empty: never capped); its ``slowdown``, an ended capped job's
slowdown against its own profile (null without one); its ``deferral``, a
``carbon_defer`` job's decision with the saving expected at submit time
(recomputed) and the saving measured against starting at submission (an
estimate; null when not deferred).

Units: ``*_kwh`` in kilowatt-hours (device energy before PUE, except
``facility_kwh`` which is after PUE), ``co2e_g`` in grams CO2e,
``ci_g_per_kwh`` in gCO2e/kWh, ``*_pct`` in percent.
"""

from __future__ import annotations

from typing import Any, get_args

from slurm_carbon.service.api.documents import (
    FIGURE_KEYS,
    caps_json,
    deferral_json,
    equivalents_json,
    forecast_json,
    group_json,
    job_json,
)
from slurm_carbon.store.reports import GroupBy
from slurm_carbon.vocabulary import STORED_BUDGET_ACTIONS, BudgetKind, BudgetOutcome

# The items are built in slurm_carbon.service.api.documents, which the read API shares.
__all__ = [
    "REPORT_JSON_SCHEMA",
    "caps_json",
    "deferral_json",
    "equivalents_json",
    "forecast_json",
    "group_json",
    "job_json",
]

_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_STRING_OR_NULL = {"type": ["string", "null"]}
_NON_FINITE = {
    "description": "Figures that were not finite in the store (shown as null); absent when none.",
    "type": "array",
    "items": {"type": "string"},
    "minItems": 1,
}
_FORECAST_NUMBERS = (
    "so_far_kwh",
    "so_far_co2e_g",
    "remaining_kwh",
    "remaining_kwh_low",
    "remaining_kwh_high",
    "remaining_co2e_g",
    "remaining_co2e_g_low",
    "remaining_co2e_g_high",
    "total_kwh",
    "total_kwh_low",
    "total_kwh_high",
    "total_co2e_g",
    "total_co2e_g_low",
    "total_co2e_g_high",
    "budget_co2e_pct",
    "budget_energy_pct",
)
_FORECAST_SCHEMA: dict[str, Any] = {
    "description": (
        "A running job's forecast (an estimate): so far, remaining and total, each with"
        " its 90 % interval (_low, _high); *_kwh at the devices before PUE; budget_*_pct:"
        " the forecast total's share of the job's budget (see budget). Null for any other"
        " job, or when no forecast can be made (e.g. no progress reported)."
    ),
    "type": ["object", "null"],
    "required": ["at", "progress", "method", "end", "ci_source", *_FORECAST_NUMBERS],
    "additionalProperties": False,
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "progress": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "method": {"enum": ["profile", "observed", "time_limit", "done"]},
        "end": _STRING_OR_NULL,
        "ci_source": {"type": "string"},
        **dict.fromkeys(_FORECAST_NUMBERS, _NUMBER_OR_NULL),
        "non_finite": _NON_FINITE,
    },
}
_ACTION_NUMBERS = ("budget", "forecast", "forecast_low", "forecast_high")
_BUDGET_SCHEMA: dict[str, Any] = {
    "description": (
        "The budgets the job's comment gave (co2e_g, kwh: null if not given) and the action"
        " taken because its forecast total exceeded one (once per job; null: none). The"
        " action's budget and forecast (with its 90 % interval) are in its unit: g CO2e for"
        " kind co2e, kWh at the devices for kind energy."
    ),
    "type": ["object", "null"],
    "required": ["co2e_g", "kwh", "action"],
    "additionalProperties": False,
    "properties": {
        "co2e_g": _NUMBER_OR_NULL,
        "kwh": _NUMBER_OR_NULL,
        "action": {
            "type": ["object", "null"],
            "required": ["action", "at", "kind", "unit", *_ACTION_NUMBERS, "progress", "reason"]
            + ["outcome", "outcome_message"],
            "additionalProperties": False,
            "properties": {
                "action": {"enum": [action.value for action in STORED_BUDGET_ACTIONS]},
                "at": {"type": "string", "format": "date-time"},
                "kind": {"enum": [kind.value for kind in BudgetKind]},
                "unit": {"enum": ["g", "kWh"]},
                **dict.fromkeys(_ACTION_NUMBERS, _NUMBER_OR_NULL),
                "progress": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "reason": {"type": "string"},
                "outcome": {"enum": [outcome.value for outcome in BudgetOutcome]},
                "outcome_message": _STRING_OR_NULL,
                "non_finite": _NON_FINITE,
            },
        },
        "non_finite": _NON_FINITE,
    },
}
_CAPS_SCHEMA: dict[str, Any] = {
    "description": (
        "The power caps decided for the job's GPUs, by period start (empty: never capped):"
        " the limit in watts held from period_start until period_end, for one GPU (device,"
        " its UUID) or all (device null), the policy that decided and why."
    ),
    "type": "array",
    "items": {
        "type": "object",
        "required": ["period_start", "period_end", "power_limit_w", "device", "policy"]
        + ["reason", "decided_at"],
        "additionalProperties": False,
        "properties": {
            "period_start": {"type": "string", "format": "date-time"},
            "period_end": {"type": "string", "format": "date-time"},
            "power_limit_w": {"type": ["number", "null"], "exclusiveMinimum": 0},
            "device": _STRING_OR_NULL,
            "policy": {"type": "string"},
            "reason": {"type": "string"},
            "decided_at": {"type": "string", "format": "date-time"},
            "non_finite": _NON_FINITE,
        },
    },
}
_SLOWDOWN_SCHEMA: dict[str, Any] = {
    "description": (
        "An ended capped job's slowdown measured against its own power profile, an estimate"
        " (null: never capped, no profile, or not measured): fraction, run time over"
        " nominal_s less one (0.019: 1.9 % slower; slightly negative from a noisy profile);"
        " nominal_s, the work done as seconds at the profile's highest limit; profile,"
        " 'GPU model / workload key, source'."
    ),
    "type": ["object", "null"],
    "required": ["fraction", "nominal_s", "profile"],
    "additionalProperties": False,
    "properties": {
        "fraction": {"type": ["number", "null"], "exclusiveMinimum": -1},
        "nominal_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "profile": {"type": "string"},
        "non_finite": _NON_FINITE,
    },
}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_DEFERRAL_SCHEMA: dict[str, Any] = {
    "description": (
        "A carbon_defer job's deferral (null: not deferred): asked_s, the delay the user"
        " allowed (auto: the site's default); submit; eligible, the begin time Slurm held"
        " (null: not known); counterfactual_start, the start the user asked for (the submit"
        " time); expected_saving_pct, the saving of the cleanest start within the delay,"
        " from the forecast (forecast_source, forecast_issued; all three null: none covered"
        " the job) the store held when the service first saw the job pending or running"
        " (first_seen true), or else recomputed from the one stored at submit time"
        " (first_seen false);"
        " measured_saving_g and measured_saving_pct, what starting at submission would have"
        " emitted more than the job did (negative: less), in grams and percent of that, an"
        " estimate: the job's measured energy profile moved in time, with the stored actual"
        " intensity (null until the job's result is settled)."
    ),
    "type": ["object", "null"],
    "required": [
        "asked_s",
        "submit",
        "eligible",
        "counterfactual_start",
        "expected_saving_pct",
        "forecast_source",
        "forecast_issued",
        "first_seen",
        "measured_saving_g",
        "measured_saving_pct",
    ],
    "additionalProperties": False,
    "properties": {
        "asked_s": {"type": "integer", "exclusiveMinimum": 0},
        "submit": {"type": "string", "format": "date-time"},
        "eligible": _TIME_OR_NULL,
        "counterfactual_start": {"type": "string", "format": "date-time"},
        "expected_saving_pct": {"type": ["number", "null"]},
        "forecast_source": _STRING_OR_NULL,
        "forecast_issued": _TIME_OR_NULL,
        "first_seen": {"type": "boolean"},
        "measured_saving_g": {"type": ["number", "null"]},
        "measured_saving_pct": {"type": ["number", "null"]},
        "non_finite": _NON_FINITE,
    },
}
_TOTALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "key",
        "jobs",
        "pending_jobs",
        "estimated_jobs",
        "gpu_kwh",
        "cpu_kwh",
        "dram_kwh",
        "other_kwh",
        "facility_kwh",
        "co2e_g",
        "waste_co2e_g",
    ],
    "additionalProperties": False,
    "properties": {
        "key": _STRING_OR_NULL,
        "jobs": {"type": "integer", "minimum": 0},
        "pending_jobs": {"type": "integer", "minimum": 0},
        "estimated_jobs": {"type": "integer", "minimum": 0},
        "gpu_kwh": _NUMBER_OR_NULL,
        "cpu_kwh": _NUMBER_OR_NULL,
        "dram_kwh": _NUMBER_OR_NULL,
        "other_kwh": _NUMBER_OR_NULL,
        "facility_kwh": _NUMBER_OR_NULL,
        "co2e_g": _NUMBER_OR_NULL,
        "waste_co2e_g": _NUMBER_OR_NULL,
        "non_finite": _NON_FINITE,
    },
}

_DEFERRALS_SCHEMA: dict[str, Any] = {
    "description": (
        "The carbon_defer jobs among those selected (jobs), those whose saving is"
        " measured (measured_jobs), and their measured savings summed: what starting"
        " at submission would have emitted more, in grams CO2e (an estimate);"
        " the measured jobs' CO2e as they ran (co2e_at_start_g) and what the same"
        " energy would have emitted from their submit time (co2e_at_submit_g)."
    ),
    "type": "object",
    "required": [
        "jobs",
        "measured_jobs",
        "measured_saving_g",
        "co2e_at_start_g",
        "co2e_at_submit_g",
    ],
    "additionalProperties": False,
    "properties": {
        "jobs": {"type": "integer", "minimum": 0},
        "measured_jobs": {"type": "integer", "minimum": 0},
        "measured_saving_g": {"type": "number"},
        "co2e_at_start_g": {"type": "number"},
        "co2e_at_submit_g": {"type": "number"},
    },
}

_NODES_SCHEMA: dict[str, Any] = {
    "description": (
        "The job's energy node by node (joules; a node of its node list that reported"
        " nothing: 0 J, coverage_pct 0); co2e_g its share of the job's by energy;"
        " coverage_pct the share of the run its intervals cover (null: not known)."
    ),
    "type": "array",
    "items": {
        "type": "object",
        "required": ["node", "energy_j", "gpu_energy_j", "share_pct", "co2e_g", "coverage_pct"],
        "additionalProperties": False,
        "properties": {
            "node": {"type": "string"},
            "energy_j": _NUMBER_OR_NULL,
            "gpu_energy_j": _NUMBER_OR_NULL,
            "share_pct": _NUMBER_OR_NULL,
            "co2e_g": _NUMBER_OR_NULL,
            "coverage_pct": _NUMBER_OR_NULL,
        },
    },
}

REPORT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "slurm-carbon report",
    "description": (
        "Output of `slurm-carbon report --json`. kWh: *_kwh at the devices before PUE,"
        " facility_kwh after PUE; co2e_g in grams CO2e after PUE; a pending job (no"
        " result yet) has null figures and quality 'pending'; waste: the job ended"
        " FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY or NODE_FAIL. `jobs` is given"
        " without --by, `groups` (one per job/user/account/partition) with it. A figure"
        " that is not finite in the store is null and named in `non_finite`."
    ),
    "type": "object",
    "required": ["schema_version", "generated_at", "window", "totals", "equivalents"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": 1},
        "generated_at": {"type": "string", "format": "date-time"},
        "window": {
            "type": "object",
            "required": ["start", "end"],
            "additionalProperties": False,
            "properties": {"start": _STRING_OR_NULL, "end": _STRING_OR_NULL},
        },
        "by": {"enum": list(get_args(GroupBy))},
        "jobs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "job_id",
                    "user",
                    "account",
                    "partition",
                    "state",
                    "start",
                    "end",
                    "elapsed_s",
                    "gpus",
                    "pending",
                    "waste",
                    "quality",
                    "estimate",
                    "name",
                    "forecast",
                    "budget",
                    "caps",
                    "slowdown",
                    "deferral",
                    "nodes",
                    *FIGURE_KEYS,
                ],
                "additionalProperties": False,
                "properties": {
                    "job_id": {"type": "string", "pattern": r"^\d+([_+]\d+)?$"},  # 12, 12_3, 12+1
                    "user": _STRING_OR_NULL,
                    "account": _STRING_OR_NULL,
                    "partition": _STRING_OR_NULL,
                    "state": _STRING_OR_NULL,
                    "start": _STRING_OR_NULL,
                    "end": _STRING_OR_NULL,
                    "elapsed_s": {"type": ["integer", "null"], "minimum": 0},
                    "gpus": {"type": "integer", "minimum": 0},
                    "pending": {"type": "boolean"},
                    "waste": {"type": "boolean"},
                    "quality": {
                        "type": "string",
                        "pattern": (
                            r"^(pending|(counter|integrated|estimated)(\+annual-ci)?(\+missing-nodes)?)$"
                        ),
                    },
                    "estimate": {"type": "boolean"},
                    "name": _STRING_OR_NULL,
                    "forecast": _FORECAST_SCHEMA,
                    "budget": _BUDGET_SCHEMA,
                    "caps": _CAPS_SCHEMA,
                    "slowdown": _SLOWDOWN_SCHEMA,
                    "deferral": _DEFERRAL_SCHEMA,
                    "nodes": _NODES_SCHEMA,
                    "gpu_kwh": _NUMBER_OR_NULL,
                    "cpu_kwh": _NUMBER_OR_NULL,
                    "dram_kwh": _NUMBER_OR_NULL,
                    "other_kwh": _NUMBER_OR_NULL,
                    "facility_kwh": _NUMBER_OR_NULL,
                    "co2e_g": _NUMBER_OR_NULL,
                    "ci_g_per_kwh": _NUMBER_OR_NULL,
                    "ci_region": _STRING_OR_NULL,
                    "ci_source": _STRING_OR_NULL,
                    "pue": {"type": ["number", "null"], "minimum": 1},
                    "node_coverage": {
                        "description": "Share of the job's node-time its intervals cover.",
                        "type": ["number", "null"],
                        "minimum": 0,
                        "maximum": 1,
                    },
                    "missing_nodes": {
                        "description": "Its nodes that reported nothing (their energy is missing).",
                        **_STRING_OR_NULL,
                    },
                    "non_finite": _NON_FINITE,
                },
            },
        },
        "groups": {"type": "array", "items": _TOTALS_SCHEMA},
        "totals": _TOTALS_SCHEMA,
        "deferrals": _DEFERRALS_SCHEMA,
        "deferral_groups": {
            "description": (
                "With --by user or account: the deferrals of each group that has any"
                " (key: the user or account), in the groups' order."
            ),
            "type": "array",
            "items": {
                **_DEFERRALS_SCHEMA,
                "required": ["key", *_DEFERRALS_SCHEMA["required"]],
                "properties": {"key": {"type": "string"}, **_DEFERRALS_SCHEMA["properties"]},
            },
        },
        "equivalents": {
            "description": "Everyday equivalents of totals.co2e_g (approximations).",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description", "quantity", "factor_g", "source"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "quantity": {"type": "number", "minimum": 0},
                    "factor_g": {"type": "number", "exclusiveMinimum": 0},
                    "source": {"type": "string"},
                },
            },
        },
    },
}
"""JSON Schema (draft 2020-12) of ``slurm-carbon report --json``."""
