"""CPU package and DRAM energy from Linux's RAPL powercap interface.

The kernel's ``intel_rapl`` drivers expose one zone per socket and its
subzones under ``/sys/class/powercap``::

    intel-rapl:0/name                 package-0
    intel-rapl:0/energy_uj            cumulative, wraps at max_energy_range_uj
    intel-rapl:0/max_energy_range_uj
    intel-rapl:0:0/name               core      (ignored: inside the package figure)
    intel-rapl:0:1/name               dram      (DRAM of socket 0)
    intel-rapl:1/name                 psys      (laptops; whole platform: ignored)

AMD Zen CPUs appear through the same ``intel-rapl`` zones (the kernel's
``intel_rapl_msr`` driver handles them since Linux 5.11); they have no DRAM
domain. ``intel-rapl-mmio:*`` zones repeat the package counter through another
interface and are ignored so nothing is counted twice.

``energy_uj`` is readable by root only since the Platypus fix (CVE-2020-8694),
so the agent runs as root.

Units: microjoules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from slurm_carbon.errors import DeviceLost, SensorError, SensorPermission, SensorUnsupported
from slurm_carbon.sensors.base import CpuDomain, DomainKind

__all__ = ["DEFAULT_POWERCAP_ROOT", "RaplBackend"]

logger = logging.getLogger(__name__)

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")

_PACKAGE_ZONE = re.compile(r"^intel-rapl:(\d+)$")
_PACKAGE_NAME = re.compile(r"^package-(\d+)$")


def _read_int(path: Path) -> int:
    """Read one integer file of the powercap tree, translating OS errors."""
    try:
        text = path.read_text()
    except PermissionError as exc:
        raise SensorPermission(
            f"cannot read {path}: permission denied; RAPL energy counters are readable "
            f"by root only since the Platypus fix (CVE-2020-8694): run the agent as root"
        ) from exc
    except FileNotFoundError as exc:
        raise DeviceLost(f"RAPL file {path} vanished") from exc
    except OSError as exc:
        raise SensorError(f"cannot read {path}: {exc}") from exc
    try:
        return int(text.strip())
    except ValueError as exc:
        raise SensorError(f"{path}: expected an integer, got {text.strip()!r}") from exc


def _read_name(zone: Path) -> str:
    try:
        return (zone / "name").read_text().strip()
    except OSError as exc:
        raise SensorError(f"cannot read {zone / 'name'}: {exc}") from exc


class RaplBackend:
    """RAPL package and DRAM counters: a :class:`~slurm_carbon.sensors.base.CpuEnergyBackend`.

    The tree is scanned, and every counter read once, when constructed, so a
    missing interface or missing privileges show at start-up.

    Args:
        root: The powercap class directory (a fixture tree in tests).

    Raises:
        SensorUnsupported: No RAPL package zone under ``root``.
        SensorPermission: ``energy_uj`` is not readable (not root).
    """

    def __init__(self, root: Path = DEFAULT_POWERCAP_ROOT) -> None:
        self._root = root
        self._files: dict[str, Path] = {}
        self._domains = self._discover()
        if not self._domains:
            raise SensorUnsupported(f"no RAPL powercap interface at {root}")
        for domain in self._domains:
            self.energy_uj(domain)
        logger.debug("RAPL domains under %s: %s", root, [d.name for d in self._domains])

    def _discover(self) -> list[CpuDomain]:
        if not self._root.is_dir():
            return []
        domains: list[CpuDomain] = []
        for zone in sorted(self._root.iterdir()):
            zone_match = _PACKAGE_ZONE.match(zone.name)
            if zone_match is None:
                continue
            name = _read_name(zone)
            package = _PACKAGE_NAME.match(name)
            if package is None:
                logger.debug("RAPL zone %s (%s) is not a package: ignored", zone, name)
                continue
            socket = int(package.group(1))
            domains.append(self._domain(zone, name, DomainKind.CPU, socket))
            for subzone in sorted(self._root.glob(f"intel-rapl:{zone_match.group(1)}:*")):
                if _read_name(subzone) == "dram":
                    domains.append(self._domain(subzone, f"{name}/dram", DomainKind.DRAM, socket))
        domains.sort(key=lambda d: (d.socket, d.kind != DomainKind.CPU))
        return domains

    def _domain(self, zone: Path, name: str, kind: DomainKind, socket: int) -> CpuDomain:
        max_uj = _read_int(zone / "max_energy_range_uj")
        self._files[name] = zone / "energy_uj"
        return CpuDomain(name=name, kind=kind, socket=socket, max_energy_uj=max_uj)

    def domains(self) -> Sequence[CpuDomain]:
        """Every package and DRAM domain, socket by socket."""
        return list(self._domains)

    def energy_uj(self, domain: CpuDomain) -> int:
        """The domain's cumulative counter. Units: microjoules.

        Raises:
            SensorPermission: Not readable (not root).
            DeviceLost: The file vanished.
            SensorError: Unknown domain, or unreadable content.
        """
        try:
            path = self._files[domain.name]
        except KeyError:
            raise SensorError(f"no RAPL domain {domain.name!r} under {self._root}") from None
        return _read_int(path)
