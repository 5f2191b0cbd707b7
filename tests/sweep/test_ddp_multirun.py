"""DDP with two CPU processes inside a multirun: one folder per job, metrics synced across ranks."""

import json

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fivestep.config.sizes import sized_from_data

from ..cli import run_cli

pytestmark = pytest.mark.slow


def test_ddp_sim_multirun_leaves_one_folder_per_job_with_synced_metrics(tmp_path):
    proc = run_cli(
        "train.py", "-m", "experiment=two_layer", "trainer=ddp_sim", "trainer.max_epochs=3",
        "data.batch_size=8", "model.optimizer.lr=0.05,0.5", f"paths.log_dir={tmp_path}",
        "callbacks.progress_bar.refresh_rate=0",
        timeout=600,  # 2 jobs of 2 processes; on a loaded 2-core machine imports take minutes
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["multiruns"]  # no runs/
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert len(list(sweep.glob("**/.hydra"))) == 2  # extra ranks wrote no config of their own
    for job in ("0", "1"):
        run = sweep / job
        events = list((run / "tensorboard").glob("events.out.tfevents.*"))  # .<pid>.<n>
        assert events and len({e.name.split(".")[-2] for e in events}) == 1  # one process wrote
        written = json.loads((run / "metrics.json").read_text())
        cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
        assert cfg.trainer.devices == 2 and cfg.trainer.strategy == "ddp"

        # Each rank tested half of the 20 test rows; the logged values must be those of all 20.
        data = instantiate(cfg.data)
        cfg.model = sized_from_data(cfg.model, data.shape())
        model = instantiate(cfg.model)
        ckpt = torch.load(written["best_checkpoint"], weights_only=False)
        model.load_state_dict(ckpt["state_dict"])
        x, y = data.splits["test"]
        with torch.no_grad():
            logits = model(x).squeeze(-1)
        acc = ((logits > 0).float() == y).float().mean().item()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y).item()
        assert written["metrics"]["test/acc"] == pytest.approx(acc, abs=1e-6)
        assert written["metrics"]["test/loss"] == pytest.approx(loss, abs=1e-5)
