"""`data.fold=members`: the k folds trained as members of one run report what the k-fold
multirun reports (each fold's metrics, and their mean ± std), with the same figures."""

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from fivestep.checkpointing.reading import load_checkpoint
from fivestep.errors import UserError
from fivestep.sweep.fold_members import fold_configs
from fivestep.sweep.members import train_trials
from fivestep.sweep.summary import spread

from ..cli import run_cli

FOLDS = ["experiment=breast_cancer", "data.folds=5", "trainer.max_epochs=8", "logger=[]",
         "baselines.models=[]", "callbacks.progress_bar.refresh_rate=0"]
COMPARED = ("val/loss", "val/acc", "val/acc_best", "val/auroc", "test/loss", "test/acc",
            "test/auroc", "train/loss")


@pytest.mark.slow  # a 5-job multirun and a member run, each a process
def test_folds_as_members_equal_the_k_fold_multirun(tmp_path):
    seq = run_cli("train.py", "-m", *FOLDS, "data.fold=range(5)",
                  f"paths.log_dir={tmp_path / 'seq'}", timeout=900)
    assert seq.returncode == 0, seq.stderr[-3000:]
    together = run_cli("train.py", *FOLDS, "data.fold=members",
                       f"paths.log_dir={tmp_path / 'members'}", timeout=900)
    assert together.returncode == 0, together.stderr[-3000:]
    (sweep,) = (tmp_path / "seq" / "train" / "multiruns").iterdir()
    (run,) = (tmp_path / "members" / "train" / "runs").iterdir()
    jobs = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in range(5)]
    folds = [json.loads((run / f"fold_{i}" / "metrics.json").read_text()) for i in range(5)]
    for i, (job, fold) in enumerate(zip(jobs, folds, strict=True)):
        for key in COMPARED:
            assert fold["metrics"][key] == pytest.approx(job["metrics"][key], abs=1e-5), (i, key)
        a = load_checkpoint(job["best_checkpoint"])["state_dict"]
        b = load_checkpoint(fold["best_checkpoint"])["state_dict"]
        for name in (n for n in a if n.startswith("net.")):
            torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-5)
    # the run's mean ± std is the multirun summary's (sample std over the folds)
    expected = spread([j["metrics"] for j in jobs], list(COMPARED))
    reported = json.loads((run / "metrics.json").read_text())["metrics"]
    for key in COMPARED:
        mean, std, n = expected[key]
        assert n == 5
        assert reported[key] == pytest.approx(mean, abs=1e-5), key
        assert reported[f"{key}_std"] == pytest.approx(std, abs=1e-5), key
    assert "mean ± std (5 jobs)" in (run / "summary.md").read_text()
    assert "stacked groups" in together.stdout + together.stderr  # Members' log line


def test_fold_configs_and_what_they_refuse(tmp_path):
    cfg = OmegaConf.create({"data": {"folds": 3, "fold": "members"}, "model": {},
                            "paths": {"output_dir": str(tmp_path)}, "ckpt_path": None})
    cfgs = fold_configs(cfg)
    assert [c.data.fold for c in cfgs] == [0, 1, 2]
    assert [Path(c.paths.output_dir).name for c in cfgs] == ["fold_0", "fold_1", "fold_2"]
    for change, words in [({"data": {"folds": None}}, "data.folds=k"),
                          ({"ckpt_path": "x.ckpt"}, "ckpt_path"),
                          ({"model": {"members": 3}}, "model.members")]:
        with pytest.raises(UserError, match=words):
            fold_configs(OmegaConf.merge(cfg, change))


def test_fold_members_cannot_be_sweep_members_too(make_cfg):
    cfg = make_cfg("experiment=breast_cancer", "data.folds=3", "data.fold=members")
    with pytest.raises(UserError, match="hydra.sweeper.members=false"):
        train_trials([cfg])
