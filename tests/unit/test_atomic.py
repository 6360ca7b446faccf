import stat
from pathlib import Path

import pytest

from slurm_carbon.atomic import write_atomically


def test_the_file_is_replaced_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "gpu.advice"
    target.write_text("old\n")

    write_atomically(target, "new\n", 0o644)

    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["gpu.advice"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "gpu.advice"
    target.write_text("old\n")

    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "caf\u00e9\n")

    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gpu.advice"]
