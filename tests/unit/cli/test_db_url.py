"""Where commands take the database URL from, and why a password never goes in --url."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.db import MAX_URL_FILE_BYTES, db
from slurm_carbon.store import head_revision

URL_WITH_CREDENTIALS = "postgresql+psycopg://carbon:s3cret@db.example.org/slurm_carbon"


def _upgrade(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(db, ["upgrade", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _url_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "db-url"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_password_in_url_on_the_command_line_is_refused_in_one_line() -> None:
    code, output = _upgrade("--url", URL_WITH_CREDENTIALS)

    assert code == 1
    assert "s3cret" not in output
    assert output == (
        "Error: --url holds a password, which every user on this host sees in `ps`:"
        " put the URL in SLURM_CARBON_DB_URL or in a file given with --url-file"
        " (readable by no one but its owner and group)\n"
    )


def test_a_password_in_the_environment_is_taken(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"  # SQLite has no password; the source is what counts
    code, output = _upgrade(env={"SLURM_CARBON_DB_URL": url})

    assert (code, output) == (0, f"{url}: upgraded from revision (empty) to {head_revision()}\n")


def test_the_url_is_read_from_a_file_others_cannot_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/from-file.db"
    path = _url_file(tmp_path, f"{url}\n", 0o640)

    code, output = _upgrade("--url-file", str(path))

    assert (code, output) == (0, f"{url}: upgraded from revision (empty) to {head_revision()}\n")
    assert (tmp_path / "from-file.db").is_file()


def test_the_url_file_comes_from_the_environment_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/env-file.db"
    path = _url_file(tmp_path, url)

    code, _ = _upgrade(env={"SLURM_CARBON_DB_URL_FILE": str(path)})

    assert code == 0
    assert (tmp_path / "env-file.db").is_file()


def test_a_url_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = _url_file(tmp_path, URL_WITH_CREDENTIALS, 0o644)

    code, output = _upgrade("--url-file", str(path))

    assert code == 1
    assert output == (
        f"Error: {path} is readable by others (mode 0644), and it holds the database's"
        f" password: chmod o= {path}\n"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("sqlite:///a.db\nsqlite:///b.db\n", "holds more than one line"),
        ("sqlite:///a\x1b[2J.db", "holds a control character"),
        ("x" * (MAX_URL_FILE_BYTES + 1), f"is larger than {MAX_URL_FILE_BYTES} bytes"),
        ("\udcff", "is not UTF-8"),
    ],
)
def test_a_url_file_that_is_not_one_url_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "db-url"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    path.chmod(0o600)

    code, output = _upgrade("--url-file", str(path))

    assert (code, output) == (1, f"Error: {path} {problem}: it must hold one database URL\n")


def test_a_missing_url_file_is_one_line(tmp_path: Path) -> None:
    code, output = _upgrade("--url-file", str(tmp_path / "absent"))

    assert code == 1
    assert output == f"Error: cannot read {tmp_path / 'absent'}: No such file or directory\n"


def test_url_and_url_file_together_are_refused(tmp_path: Path) -> None:
    path = _url_file(tmp_path, f"sqlite:///{tmp_path}/a.db")

    code, output = _upgrade(
        "--url-file", str(path), env={"SLURM_CARBON_DB_URL": f"sqlite:///{tmp_path}/b.db"}
    )

    assert (code, output) == (
        1,
        "Error: the database URL is given twice: use --url (SLURM_CARBON_DB_URL)"
        " or --url-file (SLURM_CARBON_DB_URL_FILE), not both\n",
    )
