"""``slurm-carbon profile import`` and ``list``: our CSV and Zeus's, per GPU model and key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.params import DEFAULT_WORKLOAD, workload_filter
from slurm_carbon.store import make_engine, session_factory, stored_profile, transaction, upgrade


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    upgrade(url)
    return url


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write_plain(path: Path, rows: str) -> Path:
    path.write_text("power_limit_w,throughput,power_w\n" + rows)
    return path


def test_a_plain_profile_is_stored_relative_to_its_highest_limit_and_listed(
    url: str, tmp_path: Path
) -> None:
    csv = write_plain(tmp_path / "bert.csv", "100,3.0,95\n200,4.5,180\n300,5.0,260\n")

    code, output = invoke(
        "profile", "import", str(csv), "--gpu-model", "A40", "--key", "bert", "--url", url
    )

    assert code == 0, output
    assert output == (
        "bert.csv (bert): 3 limits 100-300 W, speed 0.6-1 of the highest limit's,"
        f" stored for A40 / bert in {url}\n"
    )
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        found = stored_profile(session, "A40", "bert")
    engine.dispose()
    assert found is not None
    assert found.source == "imported:bert.csv"
    assert [(p.limit_w, p.power_w, p.throughput) for p in found.points] == [
        (100.0, 95.0, pytest.approx(0.6)),
        (200.0, 180.0, pytest.approx(0.9)),
        (300.0, 260.0, 1.0),
    ]
    code, output = invoke("profile", "list", "--url", url)
    assert code == 0
    assert re.fullmatch(
        r"A40 / bert: 3 limits 100-300 W, speed 0\.6-1 of the highest limit's;"
        r" imported:bert\.csv, 2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\n",
        output,
    )


def test_importing_again_replaces_the_profile(url: str, tmp_path: Path) -> None:
    first = write_plain(tmp_path / "a.csv", "100,1,90\n200,2,180\n")
    second = write_plain(tmp_path / "b.csv", "150,1,140\n")
    for csv in (first, second):
        assert (
            invoke("profile", "import", str(csv), "--gpu-model", "A40", "--key", "k", "--url", url)[
                0
            ]
            == 0
        )

    code, output = invoke("profile", "list", "--url", url)

    assert code == 0
    assert output.startswith("A40 / k: 1 limits 150-150 W, speed 1-1 of the highest limit's;")
    assert output.count("\n") == 1


def test_an_empty_store_says_so(url: str) -> None:
    assert invoke("profile", "list", "--url", url) == (0, "no power profiles stored\n")


def test_a_zeus_summary_is_imported_with_its_filter(
    url: str, shared_data: Callable[[str], Path]
) -> None:
    path = shared_data("gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv")

    code, output = invoke(
        "profile",
        "import",
        str(path),
        "--gpu-model",
        "Tesla V100",
        "--key",
        "resnet50",
        "--workload",
        "imagenet/resnet50/128",
        "--url",
        url,
    )

    assert code == 0, output
    # Zeus's V100 ResNet-50 at batch size 128: 100-250 W, about half speed at 100 W.
    assert output.startswith(
        "summary_power_v100.csv (v100 imagenet/resnet50/128/adadelta): 7 limits 100-250 W,"
        " speed 0.528-1 of the highest limit's"
    )


@pytest.mark.parametrize(
    ("flags", "label"),
    [
        (["--dataset", "imagenet", "--network", "resnet50"], "imagenet/resnet50/360/adadelta"),
        (
            ["--dataset", "cifar100", "--network", "shufflenetv2", "--batch-size", "1024",
             "--optimizer", "adam"],
            "cifar100/shufflenetv2/1024/adam",
        ),
    ],
)  # fmt: skip
def test_the_filter_flags_import_what_workload_does(
    url: str, shared_data: Callable[[str], Path], flags: list[str], label: str
) -> None:
    path = shared_data("gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv")
    args = ["profile", "import", str(path), "--gpu-model", "V100", "--key", "k", "--url", url]
    outputs = [
        invoke(*args, *selection) for selection in (flags, ["--workload", "/".join(flags[1::2])])
    ]

    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 0, outputs[0][1]
    assert outputs[0][1].startswith(f"summary_power_v100.csv (v100 {label}): ")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((None, None, None, None, None), DEFAULT_WORKLOAD),
        (("mnist/lenet", None, None, None, None), "mnist/lenet"),
        ((None, "mnist", "lenet", None, None), "mnist/lenet"),
        ((None, "mnist", "lenet", 64, None), "mnist/lenet/64"),
        ((None, "mnist", "lenet", 64, "adam"), "mnist/lenet/64/adam"),
    ],
)
def test_the_flags_build_the_workload_filter(
    given: tuple[str | None, str | None, str | None, int | None, str | None], expected: str
) -> None:
    assert workload_filter(*given) == expected


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--workload", "a/b", "--dataset", "a"],
         "--workload or --dataset: give one form, not both"),
        (["--dataset", "a", "--batch-size", "8"],
         "--dataset, --batch-size needs --dataset and --network"),
        (["--dataset", "a", "--network", "b", "--optimizer", "adam"],
         "--optimizer needs --batch-size (the largest is not assumed)"),
    ],
)  # fmt: skip
def test_a_filter_that_cannot_be_built_is_one_error_line(
    url: str, tmp_path: Path, flags: list[str], error: str
) -> None:
    csv = write_plain(tmp_path / "p.csv", "100,3.0,95\n")
    args = ["profile", "import", str(csv), "--gpu-model", "A40", "--key", "k", "--url", url]
    assert invoke(*args, *flags) == (1, f"Error: {error}\n")
