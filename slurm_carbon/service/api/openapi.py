"""The read API's OpenAPI 3.1 description, served at ``/api/v1/openapi.json``.

Written by hand, next to the endpoints it describes; a test checks that every
read route is described and every described path is served.
"""

from __future__ import annotations

from typing import Any

from slurm_carbon.service.api.grid import DEFAULT_AHEAD_H, MAX_AHEAD_H
from slurm_carbon.service.api.jobs import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from slurm_carbon.service.api.munge_auth import MAX_CREDENTIAL_BYTES
from slurm_carbon.service.api.views import GROUPS
from slurm_carbon.service.detail import MAX_TIMELINE_STEPS

__all__ = ["openapi_document"]


def _list(name: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"Comma-separated, as report's option (at most 10,000): {example}",
        "schema": {"type": "string"},
    }


_FILTERS = [
    _list("jobs", "12,13_2 (an array id selects all its tasks)"),
    _list("users", "alice,bob"),
    _list("accounts", "physics"),
    _list("partitions", "gpu"),
    _list("states", "CD,F,TO (names or sacct's abbreviations)"),
    *(
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": f"Jobs that ended at or {word} this time (ISO 8601 with a UTC offset).",
            "schema": {"type": "string", "format": "date-time"},
        }
        for name, word in (("start", "after"), ("end", "before"))
    ),
]
_ERROR = {
    "description": "",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
_ERRORS = {
    "401": {**_ERROR, "description": "No, a bad, an expired or a replayed MUNGE credential."},
    "403": {**_ERROR, "description": "Authenticated, but not allowed to see what was asked."},
    "422": {**_ERROR, "description": "A bad query parameter, named first in the message."},
    "503": {**_ERROR, "description": "munged, Slurm or the database cannot be reached now."},
}


_DETAIL = (
    "{job, result, deferral, not_forecast, nodes, split, timeline, recomputed, not_recomputed}:"
    " job, the job's item of GET /api/v1/jobs (forecast, budget and action, caps, slowdown,"
    " deferral); result, its stored result whole (every field under its own name, joules"
    " and grams; gpu_co2e_g, cpu_co2e_g, dram_co2e_g and other_co2e_g, its CO2e by device"
    " kind, are null for a result settled before revision 0020; null: pending); deferral,"
    " its carbon_defer decision whole (null: not deferred); not_forecast, why a running job"
    " has no forecast (null otherwise); nodes,"
    " its measured energy node by node (energy_j, gpu_energy_j, share_pct, ...); split, its"
    " energy by device kind; timeline, its energy by kind and the carbon intensity per step,"
    f" at most {MAX_TIMELINE_STEPS} steps (a job with more intervals has equally many merged"
    " into each step: energies summed, the intensity energy-weighted; report -j shows the"
    " same steps); caps lists every run of periods at one limit (report -j's table shows the"
    " latest, saying how many it leaves out); recomputed (null: not_recomputed says why),"
    " the footprint recomputed from the stored intervals (footprint, its CO2e by device kind"
    " in co2e_g_by_kind), the cleanest start"
    " and other regions (each with its footprint) and the energy card. slurm-carbon report"
    " -j ID --service-url prints it as the database mode does, byte for byte."
)


def _answer(description: str) -> dict[str, Any]:
    # The items follow slurm-carbon report --json's schema (README, "Read API").
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the read API, as a JSON-ready dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "slurm_carbon read API",
            "version": "1",
            "description": (
                "Energy and CO2e of Slurm jobs. Users see their own jobs, admins all,"
                " account coordinators their accounts' where the site enables it."
            ),
        },
        "components": {
            "securitySchemes": {
                "munge": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": (
                        "'MUNGE <credential>', the credential from `munge -n` (at most"
                        f" {MAX_CREDENTIAL_BYTES} bytes); each credential serves one request."
                    ),
                }
            }
        },
        "security": [{"munge": []}],
        "paths": {
            "/api/v1/jobs": {
                "get": {
                    "summary": "Jobs with their figures, one page at a time.",
                    "parameters": [
                        *_FILTERS,
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_PAGE_LIMIT,
                                "default": DEFAULT_PAGE_LIMIT,
                            },
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "description": "The previous page's next_cursor.",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": _answer("{jobs: [item], next_cursor, annual_fallbacks}"),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/jobs/{job_id}": {
                "get": {
                    "summary": "One job in detail, as slurm-carbon report -j shows it.",
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "description": (
                                "12, 12_3 for an array task, or 12+1 for a het job component."
                            ),
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _answer(_DETAIL),
                        "403": {**_ERROR, "description": "Not a job the caller may see."},
                        "404": {**_ERROR, "description": "No such job in the store."},
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/totals": {
                "get": {
                    "summary": "Sums over the jobs selected, by group and overall.",
                    "parameters": [
                        *_FILTERS,
                        {
                            "name": "group",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": list(GROUPS)},
                        },
                    ],
                    "responses": {
                        "200": _answer("{group, groups: [totals], totals, equivalents, deferrals}"),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/intensity": {
                "get": {
                    "summary": "Each region's newest actual carbon intensity and the hours ahead.",
                    "parameters": [
                        {
                            "name": "hours",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_AHEAD_H,
                                "default": DEFAULT_AHEAD_H,
                            },
                        }
                    ],
                    "responses": {"200": _answer("{now, hours, regions: [...]}"), **_ERRORS},
                }
            },
            "/api/v1/nodes": {
                "get": {
                    "summary": "Admins: each node's latest report, the writer's backlog.",
                    "responses": {"200": _answer("{now, nodes: [...], writer}"), **_ERRORS},
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This description.",
                    "security": [],
                    "responses": {"200": _answer("OpenAPI 3.1")},
                }
            },
        },
    }
