"""Slurm's compressed host lists, expanded."""

from __future__ import annotations

import pytest

from slurm_carbon.errors import SlurmError
from slurm_carbon.slurm.hostlist import MAX_HOSTS, expand_hostlist


@pytest.mark.parametrize(
    ("hostlist", "hosts"),
    [
        ("gpu[01-03,07]", ["gpu01", "gpu02", "gpu03", "gpu07"]),
        ("vm", ["vm"]),
        ("a1,b[9-11]-ib,c", ["a1", "b9-ib", "b10-ib", "b11-ib", "c"]),
        ("r[1-2]n[08-09]", ["r1n08", "r1n09", "r2n08", "r2n09"]),
        ("n[098-101]", ["n098", "n099", "n100", "n101"]),
        ("", []),
        ("None assigned", []),
    ],
)
def test_hostlists_expand_as_slurm_writes_them(hostlist: str, hosts: list[str]) -> None:
    assert expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize("bad", ["gpu[01-03", "gpu01-03]", "gpu[3-1]", "gpu[a-b]", "g[1,]"])
def test_malformed_hostlists_are_an_error_naming_them(bad: str) -> None:
    with pytest.raises(SlurmError, match="host list"):
        expand_hostlist(bad)


def test_a_hostlist_larger_than_slurms_own_limit_is_refused() -> None:
    with pytest.raises(SlurmError, match="more than"):
        expand_hostlist(f"n[0-{MAX_HOSTS}]")
    assert len(expand_hostlist(f"n[1-{MAX_HOSTS}]")) == MAX_HOSTS
