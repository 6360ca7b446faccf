"""Slurm's compressed host lists (``gpu[01-03,07],login1``), expanded.

Ranges keep their zero padding (``n[098-101]`` is ``n098 ... n101``); several
bracket groups in one name multiply (``r[1-2]n[1-2]``). ``None assigned`` (a
job that never ran) is empty.
"""

from __future__ import annotations

import itertools
import re

from slurm_carbon.errors import SlurmError
from slurm_carbon.text import escape_control

__all__ = ["MAX_HOSTS", "expand_hostlist"]

#: Hosts one list may expand to: Slurm's own hostlist.c refuses ranges of more
#: than 64Ki hosts (MAX_RANGE), so a longer list is not one Slurm wrote.
MAX_HOSTS = 65536

_NONE = frozenset({"", "None assigned", "(null)"})
_GROUP = re.compile(r"\[([^\[\]]*)\]")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _bad(hostlist: str, why: str) -> SlurmError:
    return SlurmError(f"bad host list {escape_control(hostlist[:200])!r}: {why}")


def _split_top_level(hostlist: str) -> list[str]:
    """The comma-separated items of a host list; commas inside brackets stay."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in hostlist:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise _bad(hostlist, "']' without '['")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise _bad(hostlist, "'[' without ']'")
    items.append("".join(current))
    return items


def _numbers(hostlist: str, group: str) -> list[str]:
    """``01-03,7`` as ``["01", "02", "03", "7"]`` (each range padded as its start)."""
    numbers: list[str] = []
    for part in group.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise _bad(hostlist, f"range {part!r} is not N or N-M")
        first, last = match[1], match[2] or match[1]
        low, high = int(first), int(last)
        if high < low:
            raise _bad(hostlist, f"range {part!r} runs backwards")
        if len(numbers) + high - low + 1 > MAX_HOSTS:
            raise _bad(hostlist, f"more than {MAX_HOSTS} hosts")
        numbers.extend(str(n).zfill(len(first)) for n in range(low, high + 1))
    return numbers


def expand_hostlist(hostlist: str) -> list[str]:
    """Every host name in a Slurm host list, in order.

    Raises:
        SlurmError: the list is malformed or names more than :data:`MAX_HOSTS` hosts.
    """
    if hostlist.strip() in _NONE:
        return []
    hosts: list[str] = []
    for item in _split_top_level(hostlist):
        if not item:
            raise _bad(hostlist, "empty name")
        literals = _GROUP.split(item)[::2]
        if any("[" in text or "]" in text for text in literals):
            raise _bad(hostlist, "nested brackets")
        groups = [_numbers(hostlist, group) for group in _GROUP.findall(item)]
        count = 1
        for numbers in groups:
            count *= len(numbers)
        if len(hosts) + count > MAX_HOSTS:
            raise _bad(hostlist, f"more than {MAX_HOSTS} hosts")
        for combination in itertools.product(*groups):
            pieces = [literals[0]]
            for number, literal in zip(combination, literals[1:], strict=True):
                pieces += [number, literal]
            hosts.append("".join(pieces))
    return hosts
