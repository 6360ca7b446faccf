"""Running external commands, injected so tests can replay recorded output.

A runner takes an argument list and returns what the command printed; it
never goes through a shell. :class:`SubprocessRunner` is the real one;
tests use :class:`RecordedRunner`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from slurm_carbon.errors import SlurmCommandNotFound, SlurmError

__all__ = ["CommandResult", "CommandRunner", "RecordedRunner", "SubprocessRunner"]


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left behind."""

    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs one command to completion."""

    def __call__(self, argv: Sequence[str], *, extra_env: Mapping[str, str]) -> CommandResult:
        """Run ``argv`` with ``extra_env`` added to the environment."""
        ...


@dataclass(frozen=True)
class SubprocessRunner:
    """Runs commands with :mod:`subprocess`.

    Attributes:
        env: The base environment of every command; the entry point passes its
            own (``os.environ``), tests a cluster's.
        timeout_s: Seconds a command may take before it is reported as hung.
            Units: seconds.
    """

    env: Mapping[str, str]
    timeout_s: float = 60.0

    def __call__(self, argv: Sequence[str], *, extra_env: Mapping[str, str]) -> CommandResult:
        """Run ``argv``; raise :class:`SlurmCommandNotFound` if it is not installed."""
        env = {**self.env, **extra_env}
        try:
            proc = subprocess.run(
                list(argv),
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SlurmCommandNotFound(
                f"{argv[0]}: command not found (is Slurm's client installed and on PATH?)"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise SlurmError(f"{argv[0]}: no answer after {self.timeout_s:g} s") from exc
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class RecordedRunner:
    """Answers commands from recorded results, and remembers what was asked.

    Attributes:
        answer: Called with the argument list; returns the recorded result.
        calls: Every argument list and extra environment it was called with.
    """

    answer: Callable[[Sequence[str]], CommandResult]
    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], *, extra_env: Mapping[str, str]) -> CommandResult:
        """Record the call and return the recorded answer."""
        self.calls.append((list(argv), dict(extra_env)))
        return self.answer(argv)
