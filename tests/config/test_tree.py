"""The config tree printed at the start of a run, and `configs/local/` (git-ignored,
loaded when present)."""

import re
import shutil
import subprocess

import pytest

from fivestep.config.compose import compose_run_config
from fivestep.config.tree import print_config_tree

from ..conftest import CONFIGS, ROOT


def test_the_tree_shows_every_group_resolved(make_cfg, tmp_path, capsys):
    cfg = make_cfg("experiment=two_layer")
    assert cfg.extras.print_config is True  # on by default
    print_config_tree(cfg)
    out = capsys.readouterr().out
    branches = [m[1] for line in out.splitlines() if (m := re.fullmatch(r"[├└]── (\w+)\s*", line))]
    assert branches == ["data", "model", "callbacks", "logger", "trainer", "paths"]
    assert "seed: 0" in out and "max_epochs: 200" in out and "lr: 0.1" in out
    assert f"output_dir: {tmp_path}" in out  # resolved, not ${hydra:runtime.output_dir}
    assert "task: ???" in out  # what the data fills in later is marked
    assert "hydra" not in branches


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_configs_local_is_ignored_by_git_and_loaded_when_present(tmp_path):
    ignored = subprocess.run(["git", "check-ignore", "-q", "configs/local/default.yaml"],
                             cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0, "configs/local/ must be git-ignored"
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs, ignore=shutil.ignore_patterns("local"))
    without = compose_run_config(configs, ["experiment=two_layer"], tmp_path / "a")
    (configs / "local").mkdir()
    (configs / "local" / "default.yaml").write_text(
        "# @package _global_\npaths:\n  cache_dir: /fast/disk/cache\ntrainer:\n  max_epochs: 7\n")
    local = compose_run_config(configs, ["experiment=two_layer"], tmp_path / "b")
    assert without.trainer.max_epochs == 200 and without.paths.cache_dir.endswith("cache")
    assert local.trainer.max_epochs == 7 and local.paths.cache_dir == "/fast/disk/cache"
    # the command line still wins over the machine's file
    cli = compose_run_config(configs, ["experiment=two_layer", "trainer.max_epochs=3"],
                             tmp_path / "c")
    assert cli.trainer.max_epochs == 3
