"""The ``slurm-carbon`` group loads a command's module only when that command runs.

``slurm-carbon progress`` runs inside job scripts, often once per step: it must
not pay for the database layer, numpy or the web service that other commands use.
Each check runs in a fresh interpreter, since this test process has long imported
everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from slurm_carbon.cli.main import cli

#: Modules that ``progress`` and the Python ``progress`` call must never import:
#: the store and what the report, service and forecast commands pull in.
HEAVY = ("sqlalchemy", "numpy", "starlette", "slurm_carbon.store")
#: Seconds a fresh interpreter may take to import and run one command.
CHILD_DEADLINE_S = 60
#: Characters of a command's short help that ``--help`` shows at least (80 columns).
SHORT_HELP_MIN = 20
#: The commands of ``slurm-carbon``, pinned so that one cannot vanish unseen.
COMMANDS = [
    "advise",
    "agent",
    "db",
    "demo",
    "evaluate",
    "intensity",
    "profile",
    "progress",
    "report",
    "service",
    "sim",
    "token",
    "web",
    "writer",
]

#: Runs ``code`` in a fresh interpreter, then prints the modules it imported as JSON.
_NEW_MODULES = """
import json, sys
before = set(sys.modules)
{code}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _imported_by(code: str) -> list[str]:
    """The modules a fresh interpreter imports while it runs ``code``."""
    result = subprocess.run(
        [sys.executable, "-c", _NEW_MODULES.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=CHILD_DEADLINE_S,
        env={"PATH": "/usr/bin:/bin"},  # no SLURM_JOB_ID: outside a managed job
    )
    modules: list[str] = json.loads(result.stdout.splitlines()[-1])
    return modules


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]


def test_the_progress_command_loads_only_its_own_module() -> None:
    modules = _imported_by(
        "import runpy\n"
        "sys.argv = ['slurm-carbon', 'progress', '0.5']\n"
        "try:\n"
        "    runpy.run_module('slurm_carbon', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (None, 0), exit.code\n"
    )

    assert _heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("slurm_carbon.cli")) == [
        "slurm_carbon.cli",
        "slurm_carbon.cli.main",
        "slurm_carbon.cli.progress",
    ]


def test_the_python_progress_call_imports_only_the_standard_library() -> None:
    modules = _imported_by("import slurm_carbon\nslurm_carbon.progress(0.5)")

    outside = [m for m in modules if m.split(".")[0] not in sys.stdlib_module_names]
    assert sorted(outside) == ["slurm_carbon", "slurm_carbon.jobprogress"]


def test_report_still_loads_its_module_when_invoked() -> None:
    modules = _imported_by(
        "from click.testing import CliRunner\n"
        "from slurm_carbon.cli.main import cli\n"
        "CliRunner().invoke(cli, ['report', '--help'])\n"
    )

    assert "slurm_carbon.cli.report" in modules
    assert "slurm_carbon.cli.service" not in modules


def test_every_command_loads_under_its_own_name() -> None:
    ctx = click.Context(cli)

    assert cli.list_commands(ctx) == COMMANDS
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        assert command.name == name


def test_help_lists_every_command_with_its_own_short_help() -> None:
    ctx = click.Context(cli)
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        short = command.get_short_help_str(limit=1000)
        [shown] = [line.removeprefix(f"{name} ") for line in lines if line.startswith(f"{name} ")]
        assert len(shown.removesuffix("...")) >= min(len(short), SHORT_HELP_MIN)
        assert short.startswith(shown.removesuffix("..."))


def test_an_unknown_command_is_one_usage_error() -> None:
    result = CliRunner().invoke(cli, ["reprot"])

    assert result.exit_code == 2
    assert "Error: No such command 'reprot'." in result.output
    assert "Traceback" not in result.output
