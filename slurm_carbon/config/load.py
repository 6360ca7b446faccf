"""Reading the site configuration file: bounded, a regular file, UTF-8 TOML, then checked.

A mistake raises :class:`~slurm_carbon.errors.ConfigError` with one line naming
the file, the key's dotted path and the problem, e.g.
``site.toml: pue.partitions.gpu: PUE must be a number >= 1, got 0.9``.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from slurm_carbon.config.site import SiteConfig
from slurm_carbon.errors import ConfigError

__all__ = ["CONFIG_MAX_BYTES", "load_config", "parse_config"]

CONFIG_MAX_BYTES = 1 << 20
"""Largest site file read: 1 MiB. The documented example is about 5 KB; a file hundreds
of times larger is a mistake (or a device such as /dev/zero), never a configuration."""


def _path(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if item == "[key]":  # pydantic's marker for a bad dict key: the key names itself
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(item)
    return "".join(parts) or "(top level)"


def _problem(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        last = error["loc"][-1] if error["loc"] else ""
        if last in {"token", "password", "api_key", "secret"}:
            return "unknown key (put the secret in an environment variable and name it in *_env)"
        return "unknown key"
    if error["type"] == "missing":
        return "missing key"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> SiteConfig:
    """Validate an already parsed TOML document.

    Args:
        data: The document, as :func:`tomllib.loads` returns it.
        source: Named in error messages (usually the file's path).

    Returns:
        The configuration.

    Raises:
        ConfigError: The first problem found (and how many more there are).
    """
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        line = f"{source}: {_path(first['loc'])}: {_problem(first)}{more}"
        raise ConfigError(" ".join(line.split())) from exc


def load_config(path: str | Path) -> SiteConfig:
    """Read and check the site configuration file.

    Args:
        path: The TOML file.

    Returns:
        The configuration.

    Raises:
        ConfigError: The file cannot be read, is not a regular file, is larger than
            :data:`CONFIG_MAX_BYTES`, is not TOML (or nests too deeply for the
            parser), or breaks a rule.
    """
    path = Path(path)
    try:
        data = tomllib.loads(_read(path).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {' '.join(str(exc).split())}") from exc
    except RecursionError as exc:  # tomllib recurses once per level of [ or {
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from exc
    return parse_config(data, str(path))


def _read(path: Path) -> bytes:
    """The file's bytes: a regular file (a FIFO would block, a device never end), bounded."""
    try:
        # O_NONBLOCK: opening a FIFO returns at once, and fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(CONFIG_MAX_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > CONFIG_MAX_BYTES:
        raise ConfigError(f"{path}: larger than {CONFIG_MAX_BYTES:,} bytes: not a site file")
    return data
