"""`fivestep.models.system.System` in short in-process fits: what it logs for each task,
that `train/loss` is the row-weighted mean of the epoch's step losses (computed here
from the weights each step started from), `predict_step`'s shapes and ranges, the best
value in the checkpoint and not taken from the sanity check, the SparseAdam refusal,
the scheduler hookup, and L-BFGS counting each step's loss once."""

import math
from functools import partial

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import Logger
from torch import nn

from fivestep.errors import UserError
from fivestep.models.nets import MLP
from fivestep.models.system import System

from ..conftest import tiny_table

K = {"binary": 2, "multiclass": 3, "regression": None}
WIDTH = {"binary": 1, "multiclass": 3, "regression": 1}
BEST = {"binary": "val/acc", "multiclass": "val/acc", "regression": "val/r2"}  # a max each
EPOCHS, BATCH = 3, 10  # 36 training rows: steps of 10, 10, 10 and 6 rows


class Recorder(Logger):
    """Every `log_metrics` call, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "recorder"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.append((step, {k: float(v) for k, v in metrics.items()}))

    def values(self, key: str) -> list[float]:
        return [m[key] for _, m in self.rows if key in m]

    def keys(self) -> set[str]:
        return {k for _, m in self.rows for k in m}


def reference_loss(task: str, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The task's usual loss, written out here with torch's functional losses."""
    if task == "binary":
        return F.binary_cross_entropy_with_logits(output.reshape(-1), y.float())
    if task == "multiclass":
        return F.cross_entropy(output, y.long())
    return F.mse_loss(output.reshape(-1), y.float())


class StepLosses(L.Callback):
    """Per epoch, `(loss, rows)` of every step, from the weights before the step."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.epochs: list[list[tuple[float, int]]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append([])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        x, y = batch
        with torch.no_grad():
            loss = reference_loss(self.task, pl_module(x), y)
        self.epochs[-1].append((loss.item(), len(y)))


def trainer(**kwargs) -> L.Trainer:
    options = dict(
        accelerator="cpu", max_epochs=EPOCHS, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
        num_sanity_val_steps=0, logger=False,
    )
    return L.Trainer(**{**options, **kwargs})


def system(task: str, n_features: int, lr: float = 0.1, **kwargs) -> System:
    net = MLP(n_features, hidden=[8], out_features=WIDTH[task])
    return System(net, partial(torch.optim.SGD, lr=lr), task=task, num_classes=K[task],
                  **kwargs)


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def fitted(request, tmp_path_factory):
    """A 3-epoch fit and a test of one task, with everything logged and a checkpoint."""
    task = request.param
    torch.manual_seed(0)
    dm = tiny_table(task)
    dm.batch_size = BATCH
    model = system(task, dm.n_features)
    recorder, steps = Recorder(), StepLosses(task)
    t = trainer(logger=recorder, callbacks=[steps])
    t.fit(model, datamodule=dm)
    ckpt = tmp_path_factory.mktemp(task) / "fit.ckpt"
    t.save_checkpoint(ckpt)
    fit_keys = recorder.keys()
    t.test(model, dataloaders=dm.val_dataloader(), verbose=False)
    return task, dm, model, recorder, fit_keys, steps, ckpt


def test_a_fit_logs_the_tasks_keys_and_test_logs_its_own(fitted):
    """What is logged is what `logged_names` promises (the metrics themselves come from
    the config: tests/models/test_metrics.py)."""
    task, _, model, recorder, fit_keys, _, _ = fitted
    val = {k for k in model.logged_names if k.startswith("val/")}
    test = {k for k in model.logged_names if k.startswith("test/")}
    assert {BEST[task], f"{BEST[task]}_best"} <= val
    assert {k.removeprefix("test/") for k in test} == {
        k.removeprefix("val/") for k in val if not k.endswith("_best")}
    assert fit_keys == {"epoch", "train/loss"} | val
    assert recorder.keys() == {"epoch", "train/loss"} | val | test
    for key in ["train/loss", *sorted(val)]:
        assert len(recorder.values(key)) == EPOCHS, key  # once per epoch
    for key in test:
        assert len(recorder.values(key)) == 1, key


def test_train_loss_is_the_row_weighted_mean_of_the_epochs_step_losses(fitted):
    _, _, _, recorder, _, steps, _ = fitted
    assert [len(e) for e in steps.epochs] == [4] * EPOCHS
    assert [[rows for _, rows in e] for e in steps.epochs] == [[10, 10, 10, 6]] * EPOCHS
    weighted = [sum(loss * rows for loss, rows in e) / 36 for e in steps.epochs]
    assert recorder.values("train/loss") == pytest.approx(weighted, rel=1e-5)
    plain = [sum(loss for loss, _ in e) / len(e) for e in steps.epochs]
    assert weighted != pytest.approx(plain, rel=1e-5)  # the weighting is visible here


def test_the_best_is_the_running_maximum_and_is_saved_in_the_checkpoint(fitted):
    task, dm, _, recorder, _, _, ckpt = fitted
    per_epoch = recorder.values(BEST[task])
    best = recorder.values(f"{BEST[task]}_best")
    assert best == pytest.approx([max(per_epoch[: i + 1]) for i in range(EPOCHS)])

    state = torch.load(ckpt, weights_only=True)["state_dict"]
    saved = {k: v for k, v in state.items() if k.startswith("val_best.")}
    assert saved  # the best so far is part of the model's state
    fresh = system(task, dm.n_features)
    fresh.load_state_dict(state)
    name = BEST[task].removeprefix("val/")
    assert fresh.val_best[name].compute().item() == pytest.approx(best[-1])


def test_predict_step_shapes_and_ranges(fitted):
    task, dm, model, _, _, _, _ = fitted
    x, _ = dm.splits["val"]
    model.eval()
    with torch.no_grad():
        out = model.predict_step((x,), 0)
        same = model.predict_step(x, 0)  # a bare tensor as the batch
        raw = model(x)
    assert torch.equal(out, same)
    rows = len(x)
    if task == "binary":
        assert out.shape == (rows,)
        assert ((out > 0) & (out < 1)).all()
        assert torch.allclose(out, torch.sigmoid(raw[:, 0]))
    elif task == "multiclass":
        assert out.shape == (rows, 3)
        assert (out >= 0).all()
        assert torch.allclose(out.sum(dim=1), torch.ones(rows))
        assert torch.allclose(out, torch.softmax(raw, dim=1))
    else:
        assert out.shape == (rows,)
        assert torch.equal(out, raw[:, 0])


def test_a_sanity_check_does_not_count_as_the_best():
    """A net that is right on every validation row before training, then flipped to
    be wrong on most (lr 0 keeps it so): the best is the epoch's, not the sanity check's."""
    dm = tiny_table("binary")
    net = nn.Linear(dm.n_features, 1)
    with torch.no_grad():
        x, y = dm.splits["train"]
        # least squares to +-1 labels: a separating direction for this learnable table
        w = torch.linalg.lstsq(torch.cat([x, torch.ones(len(x), 1)], 1), 2 * y - 1).solution
        net.weight.copy_(w[:-1].reshape(1, -1))
        net.bias.copy_(w[-1:])
    model = System(net, partial(torch.optim.SGD, lr=0.0), task="binary")
    seen: dict[str, float] = {}

    class Flip(L.Callback):
        def on_sanity_check_end(self, trainer, pl_module) -> None:
            seen["sanity"] = trainer.callback_metrics["val/acc"].item()

        def on_train_start(self, trainer, pl_module) -> None:
            with torch.no_grad():
                for p in pl_module.net.parameters():
                    p.neg_()

    recorder = Recorder()
    trainer(max_epochs=1, num_sanity_val_steps=-1, logger=recorder,
            callbacks=[Flip()]).fit(model, datamodule=dm)
    (acc,) = recorder.values("val/acc")
    assert seen["sanity"] > 0.8 and acc < 0.2  # the flip turned right into wrong
    assert recorder.values("val/acc_best") == pytest.approx([acc])


def test_sparse_adam_on_dense_parameters_is_refused_naming_them():
    net = MLP(4, hidden=[8, 8])  # six dense parameters
    with pytest.raises(UserError) as err:
        System(net, partial(torch.optim.SparseAdam, lr=0.01), task="binary")
    assert str(err.value) == (
        "model/optimizer=sparse_adam: SparseAdam updates only parameters with sparse "
        "gradients (nn.Embedding(sparse=True)), but MLP has dense ones (layers.0.weight, "
        "layers.0.bias, layers.2.weight, ...); pick model/optimizer=adam, the same method "
        "for dense gradients"
    )


def test_missing_task_or_class_count_is_refused():
    with pytest.raises(UserError, match=r"^model.task is null"):
        System(MLP(4, hidden=[]), partial(torch.optim.SGD, lr=0.1))
    with pytest.raises(UserError, match=r"^model.num_classes is null for a multiclass task"):
        System(MLP(4, hidden=[], out_features=3), partial(torch.optim.SGD, lr=0.1),
               task="multiclass")


def test_reduce_lr_on_plateau_watches_val_loss_and_other_schedulers_do_not():
    plateau = partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=1)
    config = system("binary", 4, scheduler=plateau).configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.SGD)
    assert isinstance(config["lr_scheduler"]["scheduler"],
                      torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert config["lr_scheduler"]["monitor"] == "val/loss"
    assert config["lr_scheduler"]["interval"] == "epoch"

    step = partial(torch.optim.lr_scheduler.StepLR, step_size=1)
    config = system("binary", 4, scheduler=step).configure_optimizers()
    assert "monitor" not in config["lr_scheduler"]
    assert isinstance(system("binary", 4).configure_optimizers(), torch.optim.SGD)


def test_reduce_lr_on_plateau_cuts_the_lr_when_val_loss_stalls():
    """lr 1e-7 moves val/loss by far less than the plateau's threshold: after the first
    epoch (an improvement over infinity) every epoch is a bad one, and with patience 0
    each halves the lr."""
    dm = tiny_table("binary")
    plateau = partial(torch.optim.lr_scheduler.ReduceLROnPlateau, factor=0.5, patience=0)
    model = system("binary", dm.n_features, lr=1e-7, scheduler=plateau)
    t = trainer(max_epochs=3)
    t.fit(model, datamodule=dm)
    assert t.lr_scheduler_configs[0].monitor == "val/loss"
    assert t.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-7 * 0.5**2)


def test_lbfgs_train_loss_is_the_loss_before_each_step_not_of_the_line_search():
    """Full batch: one step an epoch, whose closure L-BFGS calls many times; the logged
    loss is the first call's, at the weights the step started from."""
    torch.manual_seed(0)
    dm = tiny_table("regression")
    net = MLP(dm.n_features, hidden=[8])
    lbfgs = partial(torch.optim.LBFGS, lr=1.0, max_iter=20, line_search_fn="strong_wolfe")
    model = System(net, lbfgs, task="regression")
    calls = []
    step = model.training_step
    model.training_step = lambda *a: calls.append(1) or step(*a)
    recorder, steps = Recorder(), StepLosses("regression")
    trainer(max_epochs=2, limit_val_batches=0, logger=recorder,
            callbacks=[steps]).fit(model, datamodule=dm)
    assert len(calls) > 2 * 2  # many closure calls per step
    before = [e[0][0] for e in steps.epochs]  # one step of all 36 rows per epoch
    assert [len(e) for e in steps.epochs] == [1, 1]
    assert recorder.values("train/loss") == pytest.approx(before, rel=1e-5)
    assert before[1] < before[0]  # the second epoch starts from better weights
    assert math.isfinite(before[1])


def test_regression_metrics_are_in_the_targets_units():
    """Trained on the standardized target (the default), `val/mae` and `val/mse` equal
    scikit-learn's on the same predictions in the target's own units (a price)."""
    import lightning as L
    import numpy as np
    import pandas as pd
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    from fivestep.data.tabular import TabularDataModule
    from fivestep.models.nets import MLP

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    frame = pd.DataFrame(x, columns=list("abc")).assign(price=50_000 + 9_000 * x[:, 0])
    dm = TabularDataModule(frame=frame, target="price", test_fraction=0.0)
    dm.setup()
    assert dm.state_dict()["target_scale"] > 1000  # trained in standard deviations
    torch.manual_seed(0)
    model = System(MLP(3, hidden=[8]), torch.optim.SGD, task="regression")
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    metrics = trainer.validate(model, datamodule=dm, verbose=False)[0]
    xv, yv = dm.splits["val"]
    with torch.no_grad():
        predicted = dm.inverse_target(model.net(xv).squeeze(1)).numpy()
    truth = frame["price"].to_numpy()[dm.source_rows[len(dm.splits["train"][0]):]]
    np.testing.assert_allclose(dm.inverse_target(yv).numpy(), truth, rtol=1e-5)
    assert metrics["val/mae"] == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-4)
    assert metrics["val/mse"] == pytest.approx(mean_squared_error(truth, predicted), rel=1e-4)
    assert metrics["val/mae"] > 1000  # dollars, not standard deviations


def test_an_ensemble_nets_loss_is_its_members_mean_loss():
    """`TabularMLP(ensemble=k)` returns `(batch, k, out)` in training: the system's loss
    is the mean over members of each member's loss on every row (each learns alone);
    in evaluation the net returns the members' mean and the loss is the mean's."""

    from fivestep.models.nets import TabularMLP

    torch.manual_seed(0)
    net = TabularMLP(4, 3, hidden=[8], dropout=0.0, ensemble=5)
    system = System(net=net, optimizer=partial(torch.optim.AdamW, lr=1e-3), task="multiclass",
                    num_classes=3, loss="cross_entropy")
    x, y = torch.randn(7, 4), torch.randint(0, 3, (7,))
    loss, _, _ = system._loss((x, y))
    out = net(x)
    each = [F.cross_entropy(out[:, k], y) for k in range(5)]
    assert loss.item() == pytest.approx(torch.stack(each).mean().item(), rel=1e-6)
    net.eval()
    loss, _, _ = system._loss((x, y))
    assert loss.item() == pytest.approx(F.cross_entropy(out.mean(dim=1), y).item(), rel=1e-6)
