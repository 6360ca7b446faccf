"""The read API stands below the CLI: it imports nothing from ``slurm_carbon.cli``."""

from __future__ import annotations

import json
import subprocess
import sys

#: Seconds a fresh interpreter may take to import the service package.
CHILD_DEADLINE_S = 60


def test_the_read_api_imports_nothing_from_the_cli() -> None:
    code = (
        "import json, sys; import slurm_carbon.service.api;"
        " print(json.dumps(sorted(m for m in sys.modules if m.startswith('slurm_carbon.cli'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=CHILD_DEADLINE_S,
    )
    assert json.loads(result.stdout) == []
