import pytest

from slurm_carbon.text import escape_control, has_control


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("node01", "node01"),
        ("Zürich ☀", "Zürich ☀"),
        ("a\nb", "a\\x0ab"),
        ("\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07"),
        ("x\x1fy\x00z\x7f", "x\\x1fy\\x00z\\x7f"),
        ("\x9b31m", "\\x9b31m"),
        ("abc\u202edef", "abc\\u202edef"),
    ],
)
def test_escape_control_escapes_only_controls(raw: str, shown: str) -> None:
    assert escape_control(raw) == shown
    assert has_control(raw) == (raw != shown)
    assert not has_control(escape_control(raw))
