import pytest

from slurm_carbon.sensors.counters import counter_delta

RAPL_MAX = 262_143_328_850


def test_forward_counter_gives_difference() -> None:
    assert counter_delta(1_000, 4_500, RAPL_MAX) == 3_500
    assert counter_delta(1_000, 4_500, None) == 3_500


def test_unchanged_counter_gives_zero() -> None:
    assert counter_delta(7, 7, None) == 0


def test_wraparound_at_max_counts_both_sides() -> None:
    # 50 uJ before the wrap point, 20 uJ after it.
    assert counter_delta(RAPL_MAX - 50, 20, RAPL_MAX) == 70


def test_backwards_without_max_is_a_reset() -> None:
    assert counter_delta(9_000_000, 1_200, None) is None


@pytest.mark.parametrize(("previous", "current"), [(RAPL_MAX + 1, 5), (5, RAPL_MAX + 1)])
def test_reading_above_max_is_unknown(previous: int, current: int) -> None:
    assert counter_delta(previous, current, RAPL_MAX) is None


@pytest.mark.parametrize(
    ("previous", "current", "max_value"), [(-1, 0, None), (0, -1, None), (0, 1, 0)]
)
def test_negative_inputs_are_a_bug(previous: int, current: int, max_value: int | None) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        counter_delta(previous, current, max_value)
