"""Folds as members: each fold of `data.folds=k` trains on its own rows beside the others,
exactly as its standalone `data.fold=i` run."""

import copy

import lightning as L
import pytest
import torch

from fivestep.config.instantiate import build
from fivestep.config.sizes import sized_from_data
from fivestep.data.member_data import MemberData
from fivestep.models.members import Members

from ._member_helpers import Record, member_trainer

EPOCHS = 3
BASE = ["experiment=breast_cancer", "callbacks=none", "logger=[]"]


def _trainer(*callbacks: L.Callback) -> L.Trainer:
    return member_trainer(EPOCHS, *callbacks)


def _fold(cfg, fold: int):
    """Fold `fold`'s model and data, built as `fivestep.train` builds its standalone run."""
    cfg = copy.deepcopy(cfg)  # DictConfig.copy() shares the nested data node
    cfg.data.fold = fold
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    return build(cfg.model), datamodule, torch.get_rng_state()


def _standalone(cfg, fold: int):
    model, datamodule, _ = _fold(cfg, fold)
    record = Record(val_keys=("val/loss", "val/acc"))
    _trainer(record).fit(model, datamodule=datamodule)
    return record.values, model.net.state_dict(), len(datamodule.splits["train"][0])


CASES = {
    # 3 folds of 455 rows: training rows 303, 303, 304, in batches of 303: the last fold
    # takes a second step of one row each epoch, alone (the others are not updated), after
    # a first step stacked with them; it validates on 151 rows where the others have 152
    # (two stacks in one step)
    "uneven_minibatch": ["data.folds=3", "data.batch_size=303", "model.net.dropout=0.0",
                         "model/optimizer=adam", "model.optimizer._target_=torch.optim.AdamW",
                         "model/scheduler=cosine"],
    # 5 folds of 91, full batch, the experiment's dropout: each fold runs alone on its
    # own dropout stream
    "dropout_full_batch": ["data.folds=5"],
}


@pytest.mark.parametrize("case", [
    pytest.param("uneven_minibatch"),
    pytest.param("dropout_full_batch", marks=pytest.mark.slow)])
def test_each_fold_member_is_its_standalone_fold_run(make_cfg, case):
    cfg = make_cfg(*BASE, *CASES[case], f"trainer.max_epochs={EPOCHS}")
    folds = cfg.data.folds
    built = [_fold(cfg, i) for i in range(folds)]
    model = Members([m for m, _, _ in built], [cfg.seed] * folds, [s for _, _, s in built],
                    own_batches=True)
    _trainer().fit(model, datamodule=MemberData([d for _, d, _ in built]))
    sizes = set()
    for k in range(folds):
        values, weights, rows = _standalone(cfg, k)
        sizes.add(rows)
        for key, expected in values.items():
            assert len(model.history[k][key]) == EPOCHS
            assert model.history[k][key] == pytest.approx(expected, abs=1e-5, rel=0), (k, key)
        for name, value in weights.items():
            torch.testing.assert_close(model.members[k].net.state_dict()[name], value,
                                       rtol=0, atol=1e-5)
    if case == "uneven_minibatch":
        assert sizes == {303, 304}  # the case is what it says: folds of two sizes
        assert model.groups == [[0, 1, 2]]
    else:
        assert model.groups == [[k] for k in range(folds)]
