import pytest

from slurm_carbon.control.hull import hull_at, lower_hull

POINTS = [(0.0, 100.0), (0.02, 99.0), (0.05, 90.0), (0.1, 85.0), (0.2, 84.0), (0.05, 95.0)]


def test_the_lower_hull_drops_points_above_it() -> None:
    assert lower_hull(POINTS) == [(0.0, 100.0), (0.05, 90.0), (0.1, 85.0), (0.2, 84.0)]


@pytest.mark.parametrize(
    ("x", "y"), [(-1.0, 100.0), (0.0, 100.0), (0.025, 95.0), (0.075, 87.5), (0.3, 84.0)]
)
def test_the_hull_between_and_beyond_its_vertices(x: float, y: float) -> None:
    assert hull_at(lower_hull(POINTS), x) == pytest.approx(y)


def test_a_hull_needs_a_point() -> None:
    with pytest.raises(ValueError, match="at least one"):
        lower_hull([])
