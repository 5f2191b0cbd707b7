"""`callbacks=[default,ema]`: the checkpoints hold the averaged weights, the test and
`eval.py` score them (not the raw ones), and `ckpt_path=last` resumes the average and
the raw weights exactly."""

import pytest
import torch

from fivestep.evaluate import evaluate
from fivestep.train import train

from ..conftest import compose_config

EMA = ["experiment=two_layer", "callbacks=[default,ema]", "data.batch_size=16",
       "callbacks.progress_bar.refresh_rate=0", "logger=[]", "extras.print_config=false",
       "callbacks.probability_chart.every_n_epochs=0", "callbacks.ema.multi_avg_fn.decay=0.9"]


@pytest.mark.slow  # four short runs and an evaluation
def test_ema_checkpoints_test_and_resume(tmp_path):
    full, cut, again = tmp_path / "full", tmp_path / "cut", tmp_path / "again"
    uninterrupted = train(compose_config([*EMA, "trainer.max_epochs=4"], full))
    best = next((full / "checkpoints").glob("epoch_*.ckpt"))
    ckpt = torch.load(best, weights_only=True)
    averaged, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert averaged.keys() == raw.keys() and "n_averaged" in ckpt["averaging_state"]
    assert not torch.equal(averaged["net.hidden1.weight"], raw["net.hidden1.weight"])

    # the run's own test scored the averaged weights: eval.py (which reads state_dict)
    # gives the same numbers, and the raw weights give others
    scored = evaluate(compose_config([f"ckpt_path={best}"], tmp_path / "eval", "eval"))
    assert scored["test/loss"] == pytest.approx(uninterrupted["test/loss"], abs=1e-6)
    raw_file = tmp_path / "raw.ckpt"
    torch.save({**ckpt, "state_dict": raw}, raw_file)
    unaveraged = evaluate(compose_config([f"ckpt_path={raw_file}"], tmp_path / "raw", "eval"))
    assert unaveraged["test/loss"] != pytest.approx(scored["test/loss"], abs=1e-4)

    # cut after 2 epochs, resumed to 4: the same run as the uninterrupted one
    train(compose_config([*EMA, "trainer.max_epochs=2"], cut))
    last = cut / "checkpoints" / "last.ckpt"
    resumed = train(compose_config([*EMA, "trainer.max_epochs=4", f"ckpt_path={last}"], again))
    for key in ("train/loss", "val/loss", "val/acc_best", "test/loss"):
        assert resumed[key] == pytest.approx(uninterrupted[key], abs=1e-6), key
    ends = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=True) for d in (full, cut)]
    for part in ("state_dict", "current_model_state"):
        for name, value in ends[0][part].items():
            assert torch.allclose(value, ends[1][part][name], atol=1e-6), (part, name)
