"""The systemd units in deploy/systemd: sandboxed, and the service on localhost."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from slurm_carbon.cli.service import service

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "UMask": "0077",
}


def _service_section(name: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(UNITS / name)
    return dict(parser["Service"])


@pytest.mark.parametrize("name", ["slurm-carbon-agent.service", "slurm-carbon-service.service"])
def test_units_are_sandboxed(name: str) -> None:
    section = _service_section(name)

    assert {key: section.get(key) for key in HARDENING} == HARDENING


def test_the_agent_may_write_its_state_and_spool_only() -> None:
    section = _service_section("slurm-carbon-agent.service")

    assert "User" not in section  # root: NVML, RAPL, power limits
    assert section["ReadWritePaths"] == "/var/spool/slurm-carbon"
    assert (section["StateDirectory"], section["StateDirectoryMode"]) == (
        "slurm-carbon/agent",
        "0700",
    )
    assert "PrivateDevices" not in section  # it must reach /dev/nvidia*
    # The set-cap socket's directory, which ProtectSystem=strict would make read-only.
    assert (section["RuntimeDirectory"], section["RuntimeDirectoryMode"]) == (
        "slurm-carbon",
        "0755",
    )
    tmpfiles = (UNITS / "slurm-carbon.tmpfiles.conf").read_text().splitlines()
    assert "d /var/spool/slurm-carbon 0700 root root -" in tmpfiles
    # The jobs' progress files (prolog shim): readable by all, writable by root only.
    assert "d /run/slurm-carbon-progress 0755 root root -" in tmpfiles


def test_the_service_listens_on_localhost_and_keeps_sqlite_in_its_state_dir() -> None:
    section = _service_section("slurm-carbon-service.service")
    argv = shlex.split(section["ExecStart"])

    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert section["User"] == "slurm-carbon"
    assert (section["StateDirectory"], section["StateDirectoryMode"]) == ("slurm-carbon", "0750")
    [host] = [p for p in service.params if p.name == "host"]
    assert host.default == "127.0.0.1"


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS.glob("*.service"):  # the installed binary is not here: use /bin/true
        text = unit.read_text().replace("/opt/slurm-carbon/bin/slurm-carbon", "/bin/true")
        (tmp_path / unit.name).write_text(text)
    names = sorted(str(path) for path in tmp_path.glob("*.service"))

    done = subprocess.run(
        [analyze, "verify", *names], capture_output=True, text=True, timeout=60, check=False
    )

    assert len(names) == 2
    assert (done.returncode, done.stderr) == (0, "")
