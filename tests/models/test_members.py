"""`Members`: each member of one run trains exactly as its standalone run."""

import lightning as L
import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import OmegaConf, open_dict

from fivestep.config.instantiate import build
from fivestep.config.sizes import sized_from_data
from fivestep.errors import UserError
from fivestep.models.members import Members, stack_groups

from ._member_helpers import Record, member_trainer

# 120 rows, 72 of them for training in shuffled batches of 16: 5 steps an epoch
COMMON = ["experiment=two_layer", "data.n_samples=120", "data.batch_size=16", "callbacks=none",
          "logger=[]"]
EPOCHS = 3


VAL = ("val/loss", "val/acc", "val/auroc", "val/f1", "val/acc_best", "val/auroc_best")


def _trainer(*callbacks: L.Callback) -> L.Trainer:
    return member_trainer(EPOCHS, *callbacks)


_COMPOSED: dict[tuple[str, ...], object] = {}


def _config(make_cfg, overrides: list[str]):
    """`COMMON` + `overrides` as Hydra composes them, once per test module. Composing
    costs more than a fit (~0.25 s), so only the group overrides (`model/optimizer=adam`)
    are composed (`make_cfg` composes each set once a process and hands out copies), and
    the value overrides are applied to that copy as Hydra applies them after composing
    (parsed by Hydra's override parser, merged with `OmegaConf.update`)."""
    key = tuple(overrides)
    if key in _COMPOSED:
        return _COMPOSED[key]
    groups = [o for o in overrides if "/" in o.split("=", 1)[0]]
    cfg = make_cfg(*COMMON, *groups)
    values = [o for o in overrides if o not in groups]
    with open_dict(cfg):
        for override in OverridesParser.create().parse_overrides(values):
            assert not override.is_delete(), override  # not used here
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True,
                             force_add=override.is_add())
    _COMPOSED[key] = cfg
    return cfg


def _system(make_cfg, overrides: list[str], seed: int):
    """A member's model and data, built as `fivestep.train` builds a standalone run's."""
    cfg = _config(make_cfg, overrides).copy()
    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    return build(cfg.model), datamodule, torch.get_rng_state()


def _standalone(make_cfg, overrides: list[str], seed: int):
    model, datamodule, _ = _system(make_cfg, overrides, seed)
    record = Record(VAL)
    _trainer(record).fit(model, datamodule=datamodule)
    return record.values, model.net.state_dict()


def _together(make_cfg, members: list[tuple[list[str], int]]):
    built = [_system(make_cfg, overrides, seed) for overrides, seed in members]
    model = Members([m for m, _, _ in built], [seed for _, seed in members],
                    [state for _, _, state in built])
    _trainer().fit(model, datamodule=built[0][1])
    return model


def _assert_members_equal_standalone(make_cfg, members, atol: float = 1e-5) -> Members:
    model = _together(make_cfg, members)
    for k, (overrides, seed) in enumerate(members):
        values, weights = _standalone(make_cfg, overrides, seed)
        for key in ("train/loss", "val/loss"):
            assert len(model.history[k][key]) == EPOCHS
            assert model.history[k][key] == pytest.approx(values[key], abs=atol, rel=0), (k, key)
        for key in ("val/acc", "val/auroc", "val/f1"):  # one pass over the members' axis
            assert model.history[k][key] == pytest.approx(values[key], abs=1e-6), (k, key)
        for key in ("val/acc_best", "val/auroc_best"):  # the best so far: its last value
            assert model.history[k][key] == pytest.approx(values[key][-1:], abs=1e-6), (k, key)
        for name, value in weights.items():
            torch.testing.assert_close(model.members[k].net.state_dict()[name], value,
                                       rtol=0, atol=atol)
    return model


ADAMW = ["model/optimizer=adam", "model.optimizer._target_=torch.optim.AdamW",
         "model.optimizer.weight_decay=0.05"]
OPTIMIZERS = {
    "sgd": [[], ["model.optimizer.lr=0.05"], ["model.optimizer.lr=0.2",
                                               "model.optimizer.weight_decay=0.01"]],
    "momentum": [["model.optimizer.momentum=0.9", "model.optimizer.lr=0.05"],
                 ["model.optimizer.momentum=0.5", "+model.optimizer.nesterov=true"],
                 ["model.optimizer.momentum=0.8", "+model.optimizer.dampening=0.1"]],
    "adam": [["model/optimizer=adam", "model.optimizer.lr=0.01"],
             ["model/optimizer=adam", "model.optimizer.lr=0.003",
              "+model.optimizer.betas=[0.8,0.9]"],
             ["model/optimizer=adam", "model.optimizer.weight_decay=0.1"]],
    "adamw": [["model/optimizer=adam", "model.optimizer._target_=torch.optim.AdamW",
               "model.optimizer.lr=0.01", "model.optimizer.weight_decay=0.05"],
              ["model/optimizer=adam", "model.optimizer._target_=torch.optim.AdamW",
               "model.optimizer.lr=0.02", "model.optimizer.weight_decay=0.5"]],
    # AdamW + cosine (the tabular recipe's), each member its own schedule: to 0 over the
    # 3 epochs, and over 5 to a floor
    "adamw_cosine": [
        [*ADAMW, "model.optimizer.lr=0.01", "model/scheduler=cosine",
         f"trainer.max_epochs={EPOCHS}"],
        [*ADAMW, "model.optimizer.lr=0.02", "model/scheduler=cosine",
         "model.scheduler.T_max=5", "model.scheduler.eta_min=0.001"],
    ],
    # the other schedulers, beside a cosine one: step, and plateau on the member's val/loss
    "adamw_schedulers": [
        [*ADAMW, "model.optimizer.lr=0.01", "model/scheduler=cosine",
         f"trainer.max_epochs={EPOCHS}"],
        [*ADAMW, "model/scheduler=step", "model.scheduler.step_size=1",
         "model.scheduler.gamma=0.3"],
        [*ADAMW, "model.optimizer.lr=0.05", "model/scheduler=plateau",
         "model.scheduler.patience=0", "model.scheduler.factor=0.1"],
    ],
    "rmsprop": [["model/optimizer=rmsprop", "model.optimizer.lr=0.005"],
                ["model/optimizer=rmsprop", "model.optimizer.momentum=0.5",
                 "model.optimizer.alpha=0.9"]],
}


DEFAULT_TIER = ("sgd", "adam", "adamw_cosine")  # the rest in the slow tier


@pytest.mark.parametrize("optimizer", [
    pytest.param(name, marks=[] if name in DEFAULT_TIER else [pytest.mark.slow])
    for name in OPTIMIZERS])
def test_each_member_is_its_standalone_run(make_cfg, optimizer):
    # per-member settings and seeds, shuffled minibatches, stacked as one vmap
    members = [(o, 10 + k) for k, o in enumerate(OPTIMIZERS[optimizer])]
    model = _assert_members_equal_standalone(make_cfg, members)
    assert model.groups == [list(range(len(members)))]  # one stacked computation


def test_one_member_is_the_standalone_run_exactly(make_cfg):
    model = _assert_members_equal_standalone(make_cfg, [(["model.optimizer.momentum=0.9"], 3)],
                                             atol=0.0)
    assert model.groups == [[0]]


def test_nets_of_other_shapes_run_beside_the_stacked_ones(make_cfg):
    members = [([], 0), (["model.net.hidden1=16"], 1), (["model.optimizer.lr=0.3"], 2)]
    model = _assert_members_equal_standalone(make_cfg, members)
    assert model.groups == [[0, 2], [1]]


def test_members_with_dropout_draw_their_standalone_masks(make_cfg):
    mlp = ["model/net=mlp", "model.net.hidden=[16,8]"]
    members = [([*mlp, "model.net.dropout=0.3"], 0), ([*mlp, "model.net.dropout=0.5"], 1),
               ([*mlp, "model.net.dropout=0.0"], 2), ([*mlp, "model.net.dropout=0.0"], 3)]
    model = _assert_members_equal_standalone(make_cfg, members)
    assert model.groups == [[0], [1], [2, 3]]  # with dropout alone, without it stacked


def test_a_failing_member_stops_alone(make_cfg):
    # member 1's learning rate sends its weights to infinity in its first steps
    members = [([], 0), (["model.optimizer.lr=1e30"], 1), (["model.optimizer.lr=0.05"], 2)]
    built = [_system(make_cfg, overrides, seed) for overrides, seed in members]
    model = Members([m for m, _, _ in built])
    frozen: list[dict[str, torch.Tensor]] = []

    class Snapshot(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            member = pl_module.members[1]
            frozen.append({n: p.detach().clone() for n, p in member.named_parameters()})

    trainer = _trainer(Snapshot())
    trainer.fit(model, datamodule=built[0][1])
    assert model.failed.tolist() == [False, True, False]
    assert trainer.current_epoch == EPOCHS  # the others went on to the end
    for name, value in frozen[0].items():  # never updated after it failed
        torch.testing.assert_close(frozen[-1][name], value, rtol=0, atol=0, equal_nan=True)
    for k in (0, 2):
        values, weights = _standalone(make_cfg, *members[k])
        assert model.history[k]["val/loss"] == pytest.approx(values["val/loss"], abs=1e-5)
        for name, value in weights.items():
            torch.testing.assert_close(model.members[k].net.state_dict()[name], value,
                                       rtol=0, atol=1e-5)


@pytest.mark.slow  # >0.6 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_what_cannot_train_together_is_refused(make_cfg):
    sgd, _, _ = _system(make_cfg, [], 0)
    for overrides, words in [
        (["model/optimizer=lbfgs"], "lbfgs"),
        (["model.step_batch_size=8"], "step_batch_size"),
    ]:
        other, _, _ = _system(make_cfg, overrides, 1)
        with pytest.raises(UserError, match=words):
            Members([sgd, other])
    adam, _, _ = _system(make_cfg, ["model/optimizer=adam"], 1)
    with pytest.raises(UserError, match="different optimizers"):
        Members([sgd, adam]).configure_optimizers()


def test_stack_groups_by_shape():
    nets = [torch.nn.Linear(3, 2), torch.nn.Linear(3, 4), torch.nn.Linear(3, 2),
            torch.nn.Sequential(torch.nn.Linear(3, 2))]
    assert stack_groups(nets) == [[0, 2], [1], [3]]


def test_early_stopping_stops_each_member_at_its_standalone_epoch(make_cfg):
    # improving by more than 0.001 a validation: lr 0.001 stops after 2 epochs, lr 1.0
    # oscillates and stops a few epochs later, lr 0.1 goes on to the end
    members = [(["model.optimizer.lr=0.001"], 0), (["model.optimizer.lr=1.0"], 1),
               (["model.optimizer.lr=0.1"], 2)]

    def stopping() -> EarlyStopping:
        return EarlyStopping(monitor="val/loss", mode="min", patience=1, min_delta=0.001)

    def trainer(*callbacks: L.Callback) -> L.Trainer:
        return L.Trainer(accelerator="cpu", max_epochs=8, callbacks=[stopping(), *callbacks],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)

    built = [_system(make_cfg, overrides, seed) for overrides, seed in members]
    model = Members([m for m, _, _ in built], [s for _, s in members], [s for _, _, s in built])
    trainer().fit(model, datamodule=built[0][1])
    epochs = []
    for k, (overrides, seed) in enumerate(members):
        alone, datamodule, _ = _system(make_cfg, overrides, seed)
        record = Record()
        trainer(record).fit(alone, datamodule=datamodule)
        epochs.append(len(record.values["val/loss"]))
        for key in ("train/loss", "val/loss"):
            assert model.history[k][key] == pytest.approx(record.values[key], abs=1e-5), (k, key)
        for name, value in alone.net.state_dict().items():
            torch.testing.assert_close(model.members[k].net.state_dict()[name], value,
                                       rtol=0, atol=1e-5)
    assert len(set(epochs)) > 1  # the members stopped at different epochs
    assert model.stopped.tolist() == [n < 8 for n in epochs]
    assert not model.failed.any()


@pytest.mark.slow  # three fits
def test_member_schedules_go_on_after_a_resume(make_cfg, tmp_path):
    # each member's cosine schedule is saved with the run and restored on resume, and
    # still sets its own member's lr after Lightning restores the optimizer's groups
    members = OPTIMIZERS["adamw_cosine"]

    def fresh() -> tuple[Members, object]:
        built = [_system(make_cfg, overrides, 20 + k) for k, overrides in enumerate(members)]
        return Members([m for m, _, _ in built]), built[0][1]

    whole, datamodule = fresh()
    _trainer().fit(whole, datamodule=datamodule)
    first, datamodule = fresh()
    part = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0)
    part.fit(first, datamodule=datamodule)
    part.save_checkpoint(tmp_path / "one_epoch.ckpt")
    resumed, datamodule = fresh()
    _trainer().fit(resumed, datamodule=datamodule, ckpt_path=tmp_path / "one_epoch.ckpt")
    for k in range(len(members)):
        assert resumed._schedulers[k].last_epoch == whole._schedulers[k].last_epoch == EPOCHS
        for name, value in whole.members[k].net.state_dict().items():
            torch.testing.assert_close(resumed.members[k].net.state_dict()[name], value,
                                       rtol=0, atol=1e-6)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_stacked_groups_losses_in_one_call_equal_each_members_own_loss(task):
    from fivestep.models.members import _vector_loss
    from fivestep.models.task import loss_inputs

    g = torch.Generator().manual_seed(0)
    members, rows, out = 5, 11, 3 if task == "multiclass" else 1
    stacked = torch.randn(members, rows, out, generator=g)
    y = (torch.randint(0, out, (rows,), generator=g) if task == "multiclass"
         else torch.randint(0, 2, (rows,), generator=g).float() if task == "binary"
         else torch.randn(rows, generator=g))
    kind = {"binary": torch.nn.BCEWithLogitsLoss, "multiclass": torch.nn.CrossEntropyLoss,
            "regression": torch.nn.MSELoss}[task]
    losses = _vector_loss([kind() for _ in range(members)], task, stacked)
    values, taken = losses(stacked, y)
    for k in range(members):
        output, target = loss_inputs(stacked[k], y, task)
        torch.testing.assert_close(values[k], kind()(output, target), rtol=0, atol=1e-6)
        torch.testing.assert_close(taken[k], output, rtol=0, atol=0)
    # a loss with settings of its own is computed member by member
    assert _vector_loss([kind(), kind(reduction="sum")], task, stacked[:2]) is None
    if task == "multiclass":
        assert _vector_loss([kind(label_smoothing=0.1)] * 2, task, stacked[:2]) is None


def test_a_stacked_groups_best_weights_are_each_members_own(make_cfg):
    """The stacked best-weights store (`_keep_best`) keeps, for each member, its weights
    at its own last improvement, whatever the others did at the same epochs."""
    built = [_system(make_cfg, [], seed)[0] for seed in (1, 2, 3)]
    model = Members(built, [1, 2, 3])
    assert model.groups == [[0, 1, 2]]
    expected: dict[int, dict[str, torch.Tensor]] = {}
    for epoch, improved in enumerate(([0, 1, 2], [1], [], [0, 2], [1])):
        with torch.no_grad():
            for k, system in enumerate(model.members):
                for p in system.net.parameters():
                    p.add_(0.5 * (k + 1) + epoch)  # each member's weights move every epoch
        for k in improved:
            model._best_loss[k] = 1.0 / (epoch + 1)
            expected[k] = {n: t.clone() for n, t in model.members[k].net.state_dict().items()}
        model._keep_best(improved)
    assert list(model._best_stacks) == [(0, 1, 2)]  # kept stacked, not member by member
    for k in range(3):
        kept = model.best_state(k)
        assert kept.keys() == expected[k].keys()
        for name, value in expected[k].items():
            torch.testing.assert_close(kept[name], value, rtol=0, atol=0)
    model.use_best_weights()
    for k in range(3):
        torch.testing.assert_close(model.members[k].net.state_dict(), expected[k], rtol=0,
                                   atol=0)


@pytest.mark.slow  # composes every override set above twice (~10 s)
def test_the_configs_built_here_equal_hydras_composition(make_cfg):
    # `_config` applies value overrides to a composed config; Hydra composing them all
    # must give the same config (its `hydra` node, which records the overrides, and
    # the paths, which differ with each composition, aside)
    sets = [[], *(o for group in OPTIMIZERS.values() for o in group),
            ["model.net.hidden1=16"], ["model/net=mlp", "model.net.hidden=[16,8]",
                                       "model.net.dropout=0.3"]]
    for overrides in sets:
        ours = OmegaConf.to_container(_config(make_cfg, overrides), resolve=False)
        hydras = OmegaConf.to_container(make_cfg(*COMMON, *overrides), resolve=False)
        for tree in (ours, hydras):
            del tree["hydra"], tree["paths"]
        assert ours == hydras, overrides
