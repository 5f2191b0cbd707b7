"""`+model.members=K`: K seeds trained as one run, one checkpoint holding the ensemble,
which `eval.py`, `predict.py` and `export.py` load as any other checkpoint."""

import json

import pytest
import torch

from fivestep.checkpointing.reading import restore
from fivestep.export import standalone
from fivestep.models.members import SeedEnsemble
from fivestep.models.task import predictions

from ..trained import train_into

RUN = ["experiment=two_layer", "trainer.max_epochs=3", "data.batch_size=16", "logger=[]",
       "callbacks=checkpoints"]


@pytest.mark.slow  # two whole runs, ~9 s
def test_seed_ensemble_trains_k_seeds_and_predicts_their_mean(tmp_path, make_cfg):
    ensemble_dir = train_into(tmp_path / "ensemble", [*RUN, "+model.members=3"])
    single_dir = train_into(tmp_path / "single", RUN)  # seed 0 alone: the ensemble's member 0

    metrics = json.loads((ensemble_dir / "metrics.json").read_text())["metrics"]
    for key in ("val/acc", "val/acc_best", "val/acc_members_mean", "val/acc_members_std",
                "test/acc", "test/acc_members_mean", "test/acc_members_std"):
        assert key in metrics, key
    assert 0 <= metrics["val/acc_members_std"] <= 0.5

    restored = restore(ensemble_dir / "checkpoints" / "last.ckpt", make_cfg(config_name="predict"),
                       "test")
    model = restored.model
    assert isinstance(model, SeedEnsemble) and len(model) == 3
    assert model.seeds == [0, 1, 2]
    alone = restore(single_dir / "checkpoints" / "last.ckpt", make_cfg(config_name="predict"),
                    "test").model
    for name, value in alone.net.state_dict().items():  # member 0 is the seed-0 run
        torch.testing.assert_close(model.members[0].net.state_dict()[name], value,
                                   rtol=0, atol=1e-5)
    assert not torch.equal(model.members[1].net.hidden1.weight, model.members[0].net.hidden1.weight)

    x = torch.randn(25, 5)
    with torch.no_grad():
        mean = torch.stack([predictions(m.net(x), "binary") for m in model.members]).mean(0)
        torch.testing.assert_close(model.predict_step(x, 0), mean, rtol=0, atol=1e-6)
        exported, _ = standalone(restored)  # export.py's module: the same mean
        torch.testing.assert_close(exported(x), mean, rtol=0, atol=1e-6)


def test_members_must_be_a_positive_count(make_cfg):
    from fivestep.errors import UserError
    from fivestep.train import train

    with pytest.raises(UserError, match="model.members"):
        train(make_cfg(*RUN, "+model.members=0"))
