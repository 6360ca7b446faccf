import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_carbon.errors import DeviceLost, SensorPermission, SensorUnsupported
from slurm_carbon.sensors.base import DomainKind
from slurm_carbon.sensors.counters import counter_delta
from slurm_carbon.sensors.rapl import RaplBackend
from tests.unit.sensors.conftest import FIXTURES

POWERCAP = FIXTURES / "powercap"


def _copy(tree: str, destination: Path) -> Path:
    root = destination / tree
    shutil.copytree(POWERCAP / tree, root)
    return root


def test_two_sockets_with_dram_skip_the_mmio_duplicate() -> None:
    rapl = RaplBackend(POWERCAP / "two_sockets_dram")
    domains = rapl.domains()
    assert [(d.name, d.kind, d.socket, d.max_energy_uj) for d in domains] == [
        ("package-0", DomainKind.CPU, 0, 262_143_328_850),
        ("package-0/dram", DomainKind.DRAM, 0, 65_712_999_613),
        ("package-1", DomainKind.CPU, 1, 262_143_328_850),
        ("package-1/dram", DomainKind.DRAM, 1, 65_712_999_613),
    ]
    assert [rapl.energy_uj(d) for d in domains] == [
        123_456_789_012,
        9_876_543_210,
        223_456_789_012,
        19_876_543_210,
    ]


def test_one_socket_without_dram_ignores_core_uncore_and_psys() -> None:
    rapl = RaplBackend(POWERCAP / "one_socket_no_dram")
    assert [d.name for d in rapl.domains()] == ["package-0"]
    assert rapl.energy_uj(rapl.domains()[0]) == 4_000_000


def test_wraparound_is_recovered_through_counter_delta(tmp_path: Path) -> None:
    root = _copy("two_sockets_dram", tmp_path)
    rapl = RaplBackend(root)
    dram = rapl.domains()[1]
    (root / "intel-rapl:0:0" / "energy_uj").write_text(f"{dram.max_energy_uj - 1_000}\n")
    before = rapl.energy_uj(dram)
    (root / "intel-rapl:0:0" / "energy_uj").write_text("2500\n")
    after = rapl.energy_uj(dram)
    assert after < before
    assert counter_delta(before, after, dram.max_energy_uj) == 3_500


def test_absent_tree_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(SensorUnsupported, match="no RAPL powercap interface at"):
        RaplBackend(tmp_path / "powercap")


def test_tree_with_only_psys_is_unsupported(tmp_path: Path) -> None:
    root = _copy("one_socket_no_dram", tmp_path)
    shutil.rmtree(root / "intel-rapl:0")
    with pytest.raises(SensorUnsupported):
        RaplBackend(root)


def test_vanished_domain_is_lost(tmp_path: Path) -> None:
    root = _copy("two_sockets_dram", tmp_path)
    rapl = RaplBackend(root)
    shutil.rmtree(root / "intel-rapl:1:0")
    with pytest.raises(DeviceLost, match="intel-rapl:1:0"):
        rapl.energy_uj(rapl.domains()[3])


_READ_UNPRIVILEGED = """
import sys
from pathlib import Path
from slurm_carbon.errors import SensorPermission
from slurm_carbon.sensors.rapl import RaplBackend
try:
    RaplBackend(Path(sys.argv[1]))
except SensorPermission as exc:
    print(exc)
"""


def test_root_only_counter_is_a_permission_error_naming_file_and_fix(tmp_path: Path) -> None:
    # energy_uj is 0400 root on real kernels: a reader without root's powers is refused.
    root = _copy("one_socket_no_dram", tmp_path)
    counter = root / "intel-rapl:0" / "energy_uj"
    counter.chmod(0o000)
    if os.geteuid() != 0:
        with pytest.raises(SensorPermission) as caught:
            RaplBackend(root)
        message = str(caught.value)
    else:
        # Root reads any file through CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: the child
        # stays root (so it reaches this interpreter and checkout wherever they are,
        # /root included) but without those two capabilities.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop capabilities")
        done = subprocess.run(
            [
                setpriv,
                "--inh-caps=-all",
                "--ambient-caps=-all",
                "--bounding-set=-dac_override,-dac_read_search",
                sys.executable,
                "-c",
                _READ_UNPRIVILEGED,
                str(root),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        message = done.stdout
    assert str(counter) in message
    assert "run the agent as root" in message
    assert "CVE-2020-8694" in message
