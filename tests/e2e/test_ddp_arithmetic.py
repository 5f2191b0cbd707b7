"""DDP does the same arithmetic: 2 processes with batch B/2 each = 1 process with batch B.

Each step, DDP averages the two ranks' gradients; with equal shards that is the gradient
of the mean loss over both shards, i.e. over the B rows one process would see in that
step, provided the two shards of step k are exactly one process's batch k. Then the
weights and the per-epoch training loss agree to rounding (the sums run in another
order), here checked to 1e-6 after several epochs, for a full batch and for shuffled
minibatches.
"""

import pandas as pd
import pytest
import torch

from ..cli import run_cli

pytestmark = pytest.mark.slow

EPOCHS = 6
COMMON = [
    "experiment=two_layer", f"trainer.max_epochs={EPOCHS}", "logger=csv", "test=false",
    "callbacks.progress_bar.refresh_rate=0", "model.optimizer.momentum=0.9",
]


def _train(tmp_path, name: str, *overrides: str) -> tuple[dict[str, torch.Tensor], list[float]]:
    proc = run_cli("train.py", *COMMON, *overrides, f"hydra.run.dir={tmp_path / name}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / name
    weights = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    metrics = pd.read_csv(run / "csv" / "metrics.csv")
    losses = metrics.dropna(subset=["train/loss"]).sort_values("epoch")["train/loss"].tolist()
    assert len(losses) == EPOCHS
    return weights, losses


@pytest.mark.parametrize(
    ("one", "half"),
    [("null", ["data.batch_size=null"]), ("16", ["data.batch_size=8"]),
     # several optimizer steps per Lightning step: under DDP each goes through
     # manual_backward, which readies DDP's gradient all-reduce for that backward
     ("16", ["data.batch_size=32", "model.step_batch_size=8"])],
    ids=["full", "minibatch", "several-steps"],
)
def test_two_ranks_with_half_batches_match_one_process(tmp_path, one, half):
    single_w, single_loss = _train(tmp_path, "single", f"data.batch_size={one}")
    ddp_w, ddp_loss = _train(tmp_path, "ddp", "trainer=ddp_sim", *half)
    assert ddp_loss == pytest.approx(single_loss, abs=1e-6, rel=0)
    assert single_w.keys() == ddp_w.keys()
    for key, value in single_w.items():
        if value.is_floating_point() and "net." in key:
            torch.testing.assert_close(ddp_w[key], value, atol=1e-6, rtol=0, msg=key)
