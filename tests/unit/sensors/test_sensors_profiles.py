import math
from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.profiles import (
    PowerProfile,
    ProfilePoint,
    load_profile,
    load_zeus_profile,
    synthetic_profile,
)

V100 = "gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv"
HEADER = "dataset,network,batch_size,optimizer,power_limit,time_per_epoch,average_power\n"


def test_interpolates_linearly_and_holds_the_ends() -> None:
    profile = PowerProfile(
        "t", "m", (ProfilePoint(100, 90, 1.0), ProfilePoint(200, 170, 2.0)), 20, "test"
    )
    assert profile.at(150) == ProfilePoint(150, 130, 1.5)
    assert profile.at(50).power_w == 90
    assert profile.at(300).throughput == 2.0


def test_synthetic_profile_follows_its_documented_formula() -> None:
    profile = synthetic_profile()
    assert profile.name == "synthetic"
    assert (profile.min_limit_w, profile.max_limit_w, profile.idle_power_w) == (100, 300, 30)
    top, low = profile.at(300), profile.at(100)
    assert top.power_w == pytest.approx(270)
    assert top.throughput == pytest.approx(1.0)
    assert low.power_w == pytest.approx(100)
    assert low.throughput == pytest.approx(math.sqrt(100 / 270))
    # Less than proportional slowdown: energy per unit falls with the cap.
    assert low.power_w / low.throughput < top.power_w / top.throughput


def test_zeus_file_picks_one_workload(tmp_path: Path) -> None:
    csv_path = tmp_path / "summary_power_x100.csv"
    csv_path.write_text(
        HEADER
        + "cifar,net,32,adam,100,20.0,90.0\n"
        + "cifar,net,32,adam,200,10.0,180.0\n"
        + "cifar,net,64,sgd,100,8.0,95.0\n"
        + "cifar,net,64,adam,100,5.0,99.0\n"
        + "cifar,net,64,adam,200,4.0,190.0\n"
        + "other,net,64,adam,100,1.0,50.0\n"
    )
    profile = load_zeus_profile(csv_path, "cifar/net")
    assert profile.name == "x100 cifar/net/64/adam"
    assert profile.model == "Simulated X100"
    assert profile.points == (ProfilePoint(100, 99, 0.2), ProfilePoint(200, 190, 0.25))
    assert profile.idle_power_w == 20
    explicit = load_zeus_profile(csv_path, "cifar/net/32")
    assert explicit.points[0] == ProfilePoint(100, 90, 0.05)


@pytest.mark.parametrize(
    ("workload", "message"),
    [("cifar", "expected dataset/network"), ("nope/net", "no rows for workload")],
)
def test_zeus_bad_workload(tmp_path: Path, workload: str, message: str) -> None:
    csv_path = tmp_path / "summary_power_x.csv"
    csv_path.write_text(HEADER + "cifar,net,32,adam,100,20.0,90.0\n")
    with pytest.raises(ConfigError, match=message):
        load_zeus_profile(csv_path, workload)


def test_zeus_missing_file_and_wrong_columns(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read power profile"):
        load_zeus_profile(tmp_path / "absent.csv", "a/b")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="missing"):
        load_zeus_profile(other, "a/b")


def test_real_v100_resnet50_profile(shared_data: Callable[[str], Path]) -> None:
    profile = load_zeus_profile(shared_data(V100), "imagenet/resnet50/256")
    assert profile.name == "v100 imagenet/resnet50/256/adadelta"
    assert [p.limit_w for p in profile.points] == [100, 125, 150, 175, 200, 225, 250]
    assert profile.at(250).throughput == pytest.approx(1 / 3514.986666666666)
    assert profile.at(250).power_w == pytest.approx(220.25029530245453)
    # midway between 150 W and 175 W
    assert profile.at(162.5).power_w == pytest.approx((144.59474877795884 + 166.37217540170334) / 2)


def test_round_trips_through_dict() -> None:
    profile = synthetic_profile(50, 200, 3.0)
    assert PowerProfile.from_dict(profile.to_dict()) == profile


def test_load_profile_tells_a_plain_csv_from_a_zeus_summary_by_its_header(tmp_path: Path) -> None:
    plain = tmp_path / "a100.csv"
    plain.write_text("power_limit_w,throughput,power_w\n300,2.0,280\n150,1.5,140\n")
    profile = load_profile(plain, "ignored/here")
    assert profile.points == (ProfilePoint(150, 140, 1.5), ProfilePoint(300, 280, 2.0))
    assert (profile.name, profile.idle_power_w) == ("a100", 30.0)
    zeus = tmp_path / "summary_power_x.csv"
    zeus.write_text(HEADER + "d,n,8,sgd,200,2.0,150\n")
    assert load_zeus_profile(zeus, "d/n") == load_profile(zeus, "d/n")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_profile(tmp_path, "d/n")
