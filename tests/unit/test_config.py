"""The site configuration: the documented example loads; mistakes name file, key and problem."""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest

from slurm_carbon.config import CONFIG_MAX_BYTES, AdminsConfig, load_config, parse_config
from slurm_carbon.config.policies import BudgetActionName, BudgetPolicy, CappingPolicy
from slurm_carbon.errors import ConfigError
from slurm_carbon.vocabulary import BudgetAction

EXAMPLE = Path(__file__).parents[2] / "deploy" / "site.example.toml"

MINIMAL = """
cluster = "c1"
[regions]
default = "DE"
[pue]
default = 1.25
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'site.toml'}: ")
    return message


def test_the_example_loads_and_answers_lookups() -> None:
    config = load_config(EXAMPLE)

    assert config.cluster == "hpc1"
    assert config.region_for("batch", "cn001") == "DE"
    assert config.region_for("remote", "cn001") == "SE"
    assert config.region_for("remote", "fr-gpu-07") == "FR"  # node pattern beats partition
    assert config.region_for(None, None) == "DE"
    assert config.pue_at("batch", datetime(2024, 1, 1, tzinfo=UTC)) == 1.4
    assert config.pue_at("gpu", datetime(2024, 6, 30, 23, tzinfo=UTC)) == 1.3
    assert config.pue_at("gpu", datetime(2024, 7, 1, tzinfo=UTC)) == 1.15
    assert config.pue_at("gpu", datetime(2020, 1, 1, tzinfo=UTC)) == 1.3  # before the series
    assert config.intensity.sources[0] == "trace"
    em = config.intensity.providers["electricitymaps"]
    assert em.token_env == "SLURM_CARBON_ELECTRICITYMAPS_TOKEN"  # noqa: S105 - a name
    assert em.zones["SE"] == "SE-SE3"
    assert config.counterfactual.regions == ["SE", "FR", "PL"]
    assert config.unmeasured_power_w("gpu-a12") == 180.0
    assert config.unmeasured_power_w("cn3") is None
    assert config.node_type_for("cn3") == "cpu"
    assert config.node_type_for("login1") is None
    assert config.admins.is_admin("slurm")
    assert config.admins.is_admin("alice", ["users", "hpc-admins"])
    assert not config.admins.is_admin("alice", ["users"])
    assert config.admin_comment.foreign == "append"
    assert config.budgets.action == "notify"
    gpu = config.budgets.policy_for("gpu")
    assert (gpu.action, gpu.min_progress, gpu.min_runtime_min, gpu.over_by) == (
        "cancel",
        0.2,
        10,
        "low",
    )
    assert gpu.notify_command == ["/usr/bin/mail", "-s", "job {job_id}: budget {budget}", "{user}"]
    assert config.budgets.policy_for("debug").action == "none"
    assert config.budgets.policy_for("batch") == config.budgets.policy_for(None)
    assert config.capping.policy_for("batch") == CappingPolicy(policy="none")
    gpu_caps = config.capping.policy_for("gpu")
    assert (gpu_caps.policy, gpu_caps.max_slowdown, gpu_caps.period_min) == ("carbon", 0.025, 30)
    assert config.capping.policy_for("inference").policy == "static"
    assert config.capping.policy_for("inference").max_slowdown == 0.05


def test_a_partitions_policy_is_a_plain_policy_in_budgets_and_capping() -> None:
    text = MINIMAL + '[budgets.partitions.gpu]\naction = "cancel"\n'
    text += '[capping]\npolicy = "static"\n[capping.partitions.gpu]\nmax_slowdown = 0.1\n'
    config = parse_config(tomllib.loads(text))

    assert config.budgets.policy_for("gpu") == BudgetPolicy(action="cancel")
    assert config.budgets.policy_for("cpu") == BudgetPolicy()
    assert config.capping.policy_for("gpu") == CappingPolicy(policy="static", max_slowdown=0.1)
    assert config.capping.policy_for(None) == CappingPolicy(policy="static")


def test_chase_is_a_capping_policy_a_partition_may_choose() -> None:
    text = MINIMAL + '[capping]\npolicy = "static"\n[capping.partitions.gpu]\npolicy = "chase"\n'
    config = parse_config(tomllib.loads(text))

    assert config.capping.policy_for("gpu") == CappingPolicy(policy="chase")
    assert config.capping.policy_for("cpu") == CappingPolicy(policy="static")


def test_a_minimal_file_takes_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    assert config.intensity.sources == ["annual"]
    assert config.counterfactual.window_h == 24
    assert config.admin_comment.field == "admin_comment"
    assert config.admin_comment.enabled
    policy = config.budgets.policy_for("gpu")
    assert (policy.action, policy.min_progress, policy.min_runtime_min) == ("notify", 0.1, 10)
    assert (policy.over_by, policy.notify_command) == ("low", None)
    assert config.pue_series("any").at(datetime(2030, 1, 1, tzinfo=UTC)) == 1.25
    caps = config.capping.policy_for("gpu")
    assert (caps.policy, caps.max_slowdown, caps.period_min) == ("none", 0.025, 30)


def test_root_is_an_admin_whether_listed_or_not(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    assert config.admins.users == []
    assert config.admins.is_admin("root")
    assert config.admins.is_admin("root", ["users"])
    assert not config.admins.is_admin("alice")
    assert not config.admins.is_admin("rooted", ["root"])
    assert AdminsConfig(users=["carol"]).is_admin("root")
    assert AdminsConfig(groups=["hpc-admins"]).is_admin("bob", frozenset({"hpc-admins"}))


def test_node_patterns_match_in_file_order(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, MINIMAL + '[regions.nodes]\n"gpu-a1*" = "SE"\n"gpu-*" = "FR"\n')
    )

    assert config.region_for("batch", "gpu-a17") == "SE"
    assert config.region_for("batch", "gpu-b17") == "FR"
    assert config.region_for("batch", "GPU-b17") == "DE"  # case-sensitive


EM = "[intensity.providers.electricitymaps]\n"
WT = "[intensity.providers.watttime]\n"
GPU_PUE = "[pue.partitions]\ngpu = "
JAN, FEB = "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"
POWER = "node_types.x.unmeasured_power_w"
NOTIFY = "[budgets]\nnotify_command = "


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ("[regions.partiton]\n", "regions.partiton", "unknown key"),
        ("[colour]\nred = 1\n", "colour", "unknown key"),
        (WT + 'zone = {DE = "DE"}\n', "intensity.providers.watttime.zone", "unknown key"),
        (EM + 'token = "abc"\n', "intensity.providers.electricitymaps.token", "environment"),
        (EM + 'token_env = "sk 1"\n', "intensity.providers.electricitymaps.token_env", "NAME of"),
        ('[intensity]\nsources = ["annual", "bing"]\n', "intensity.sources[1]", "Input should"),
        ('[intensity]\nsources = ["annual", "annual"]\n', "intensity.sources", "listed twice"),
        ("[intensity.providers.bing]\n", "intensity.providers.bing", "Input should be 'trace'"),
        (GPU_PUE + "0.9\n", "pue.partitions.gpu", "PUE must be a number >= 1, got 0.9"),
        (GPU_PUE + '"1.2"\n', "pue.partitions.gpu", "PUE must be a number"),
        (GPU_PUE + "true\n", "pue.partitions.gpu", "PUE must be a number"),
        (
            GPU_PUE + f"[{{valid_from = {JAN}, value = 0.5}}]\n",
            "pue.partitions.gpu",
            "item 0: PUE must be a number >= 1",
        ),
        (
            GPU_PUE + "[{valid_from = 2024-01-01T00:00:00, value = 1.2}]\n",
            "pue.partitions.gpu",
            "UTC offset",
        ),
        (
            GPU_PUE
            + f"[{{valid_from = {FEB}, value = 1.2}}, {{valid_from = {JAN}, value = 1.3}}]\n",
            "pue.partitions.gpu",
            "strictly increasing",
        ),
        ('[budgets]\naction = "kill"\n', "budgets.action", "'notify', 'cancel' or 'none'"),
        ("[budgets]\nmin_progress = 0\n", "budgets.min_progress", "greater than 0"),
        ("[budgets]\nmin_progress = 1.5\n", "budgets.min_progress", "less than or equal to 1"),
        ("[budgets]\nmin_runtime_min = 10081\n", "budgets.min_runtime_min", "10080"),
        ('[budgets]\nmin_runtime_min = "10min"\n', "budgets.min_runtime_min", "integer"),
        ('[budgets]\nover_by = "high"\n', "budgets.over_by", "'low' or 'point'"),
        ("[budgets]\nnotify_command = []\n", "budgets.notify_command", "must name a program"),
        (NOTIFY + '["mail", "{user}"]\n', "budgets.notify_command", "absolute path"),
        (NOTIFY + '["/bin/mail", "{uid}"]\n', "budgets.notify_command", "placeholder {uid}"),
        (NOTIFY + '["/bin/mail", "a\\nb"]\n', "budgets.notify_command", "control character"),
        (NOTIFY + "[" + '"x", ' * 65 + "]\n", "budgets.notify_command", "more than 64 words"),
        ('[budgets.partitions.gpu]\naction = "kill"\n', "budgets.partitions.gpu.action", "'none'"),
        (
            "[budgets.partitions.gpu]\nmin_runtime = 5\n",
            "budgets.partitions.gpu.min_runtime",
            "unknown",
        ),
        (
            '[capping]\npolicy = "chasee"\n',
            "capping.policy",
            "'none', 'static', 'carbon' or 'chase'",
        ),
        ("[capping]\nmax_slowdown = 0\n", "capping.max_slowdown", "greater than 0"),
        ("[capping]\nmax_slowdown = 0.6\n", "capping.max_slowdown", "less than or equal to 0.5"),
        ("[capping]\nperiod_min = 0\n", "capping.period_min", "greater than or equal to 1"),
        ("[capping]\nperiod_min = 1441\n", "capping.period_min", "less than or equal to 1440"),
        ('[capping.partitions.gpu]\npolicy = "max"\n', "capping.partitions.gpu.policy", "'carbon'"),
        ('[admin_comment]\nforeign = "overwrite"\n', "admin_comment.foreign", "'append' or 'skip'"),
        ("[node_types.x]\nnodes = []\n", "node_types.x.nodes", "at least 1"),
        ('[node_types.x]\nnodes = ["a*"]\nunmeasured_power_w = -5\n', POWER, "greater than or"),
        ("[counterfactual]\nstep_min = 0\n", "counterfactual.step_min", "greater than 0"),
    ],
)
def test_mistakes_name_the_key_and_the_problem(
    tmp_path: Path, extra: str, key: str, problem: str
) -> None:
    message = error_of(tmp_path, MINIMAL + extra)

    assert f": {key}: " in message
    assert problem in message


def test_missing_and_malformed(tmp_path: Path) -> None:
    assert ": regions: missing key" in error_of(tmp_path, 'cluster = "c"\n[pue]\ndefault = 1.2\n')
    assert ": cluster: " in error_of(tmp_path, MINIMAL.replace('"c1"', '"my cluster"'))
    assert "invalid TOML" in error_of(tmp_path, "cluster = \n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_several_problems_are_counted_in_one_line() -> None:
    data: dict[str, Any] = tomllib.loads("a = 1\nb = 2\n" + MINIMAL)
    with pytest.raises(ConfigError, match=r"^x\.toml: a: unknown key \(and 1 more\)$"):
        parse_config(data, "x.toml")


def test_pue_at_refuses_a_naive_time(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValueError, match="timezone"):
        config.pue_at(None, datetime(2024, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("a = " + "[" * 100_000 + "]" * 100_000, "nested too deeply", id="array"),
        pytest.param("a = " + "{b = " * 50_000 + "1" + "}" * 50_000 + "\n", "nested too deeply",
                     id="inline-table"),
        pytest.param(MINIMAL + "#" * CONFIG_MAX_BYTES, "larger than 1,048,576 bytes", id="large"),
        pytest.param("cluster = 'c\x00'\n", "invalid TOML", id="nul"),
        pytest.param("\udcff", "not UTF-8", id="latin-1"),
    ],
)  # fmt: skip
def test_hostile_files_are_one_line_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "site.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "directory", "fifo"])
def test_what_is_not_a_regular_file_is_refused_without_reading_it(
    tmp_path: Path, special: str
) -> None:
    path = Path(special)
    if special == "directory":
        path = tmp_path
    elif special == "fifo":
        path = tmp_path / "fifo.toml"
        os.mkfifo(path)  # opening it to read would wait for a writer forever

    with pytest.raises(ConfigError, match=f"^{path}: not a regular file$"):
        load_config(path)


def test_the_budget_actions_are_the_vocabularys_words() -> None:
    assert get_args(BudgetActionName) == tuple(action.value for action in BudgetAction)
