"""Reading checkpoints: find them, load them safely, check they fit, rebuild from them.

`restore` is what `eval.py`, `predict.py` and `export.py` start with: the model and
the data of a finished run, from the checkpoint file alone.

Every reader here loads with `torch.load(..., weights_only=True)`, which refuses
anything that would need pickle to run code; a fivestep checkpoint is plain data
(see `fivestep.checkpointing.run_state`). Each problem a person can fix (no such file, a
truncated or corrupt file, a checkpoint of another model, one without a config)
becomes a `UserError` naming the file and what to do.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fivestep.checkpointing.run_state import KEY
from fivestep.config.checks import check_types
from fivestep.errors import UserError

log = logging.getLogger(__name__)

LAST = "last"  # `ckpt_path=last`: the newest last.ckpt of the same experiment


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file on the CPU, without pickle, or raise a `UserError` saying why."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"ckpt_path={str(path)!r}: no such file; pass a checkpoint written by train.py, "
            "e.g. logs/train/runs/<run>/checkpoints/last.ckpt"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        text = str(err)
        if "Unsupported global" in text:  # a well-formed file that names Python classes
            what = "holds Python objects that only pickle could load, not plain data"
            reason = text[text.index("Unsupported global") :].split(" was not")[0]
        else:
            what = "cannot be read: it is truncated or corrupt"
            detail = text.split("WeightsUnpickler error:")[-1].strip()
            reason = detail.splitlines()[0] if detail else ""
        raise UserError(
            f"checkpoint {str(path)!r} {what} ({(reason or type(err).__name__)[:120]}); "
            "use another checkpoint, e.g. the run's last.ckpt or epoch_*.ckpt"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(
            f"checkpoint {str(path)!r} is not a Lightning checkpoint (no 'state_dict'); "
            "pass a .ckpt file written by train.py"
        )
    return checkpoint


def config_of(checkpoint: dict[str, Any], path: str | Path) -> DictConfig:
    """The composed config stored in a fivestep checkpoint."""
    config = checkpoint.get(KEY, {}).get("config")
    if not config:
        raise UserError(
            f"checkpoint {str(path)!r} holds no fivestep config (it was not written by "
            "fivestep's train.py); retrain with train.py, or resume from it with "
            "`python train.py <same experiment> ckpt_path=<file>` to get one that has it"
        )
    return OmegaConf.create(config)


def _metric_state_keys(model: nn.Module) -> set[str]:
    """Keys of `model.state_dict()` that are torchmetrics states, not weights."""
    from torchmetrics import Metric

    prefixes = [f"{name}." for name, m in model.named_modules() if isinstance(m, Metric) and name]
    return {k for k in model.state_dict() if any(k.startswith(p) for p in prefixes)}


def check_fits(
    model: nn.Module, checkpoint: dict[str, Any], path: str | Path, weights_only: bool = False
) -> None:
    """Raise a `UserError` unless the checkpoint's weights have the model's names and shapes.

    With `weights_only`, metric states are not required either way: the checkpoint may
    lack some (e.g. the best-so-far value, saved since fivestep 0.1) or hold others (the
    single `val_best` of checkpoints before metrics came from `model/metrics`); the
    weights are enough to evaluate or predict.
    """
    have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
    optional = _metric_state_keys(model) if weights_only else set()
    roots = {k.split(".")[0] for k in optional}  # val_best, val_metrics, ...
    problems = [f"missing {k}" for k in have if k not in saved and k not in optional]
    problems += [f"unexpected {k}" for k in saved
                 if k not in have and k.split(".")[0] not in roots]
    problems += [
        f"{k} is {saved[k]} in the checkpoint but {have[k]} in the model"
        for k in have
        if k in saved and saved[k] != have[k]
    ]
    if problems:
        more = f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        shown = "; ".join(problems[:4]) + more
        raise UserError(
            f"checkpoint {str(path)!r} holds a different model ({shown}); use the experiment "
            "and model settings it was trained with, or another checkpoint"
        )


def load_weights(model: nn.Module, checkpoint: dict[str, Any], path: str | Path) -> None:
    """Copy the checkpoint's weights into `model` after `check_fits` (for inference)."""
    check_fits(model, checkpoint, path, weights_only=True)
    model.load_state_dict(checkpoint["state_dict"], strict=False)


def find_last(log_dir: str | Path, task_name: str, experiment: str | None) -> Path:
    """The newest `last.ckpt` under `<log_dir>/<task_name>/` written by `experiment`.

    Runs and multirun jobs are both searched; "newest" is the file's modification
    time. A checkpoint without fivestep's record of its experiment is skipped.
    """
    root = Path(log_dir) / task_name
    found: list[tuple[float, Path]] = []
    for path in root.glob("**/checkpoints/last.ckpt"):
        try:
            record = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get(KEY, {})
        except Exception:  # an unreadable file is not a candidate
            continue
        if record and record.get("choices", {}).get("experiment") == experiment:
            found.append((path.stat().st_mtime, path))
    if not found:
        raise UserError(
            f"ckpt_path=last: no last.ckpt of experiment={experiment} under {str(root)!r}; "
            "train it first, or pass ckpt_path=<file.ckpt>"
        )
    return max(found)[1]


def resolve(ckpt_path: str, log_dir: str | Path, task_name: str, experiment: str | None) -> Path:
    """`ckpt_path` as given, or for `last` the file `find_last` picks."""
    if str(ckpt_path) == LAST:
        path = find_last(log_dir, task_name, experiment)
        log.info("ckpt_path=last -> %s", path)
        return path
    return Path(ckpt_path)


@dataclass
class Restored:
    """A trained run rebuilt from one checkpoint file.

    Attributes:
        path: the checkpoint file.
        checkpoint: its contents (plain data).
        config: the run's composed config, with the caller's overrides merged in.
        model: the LightningModule with the checkpoint's weights, in eval mode.
        datamodule: the DataModule, its fitted preprocessing (if it has any) loaded
            from the checkpoint; not set up (no data read yet).
    """

    path: Path
    checkpoint: dict[str, Any]
    config: DictConfig
    model: L.LightningModule
    datamodule: L.LightningDataModule


def restore(ckpt_path: str | Path | None, overrides: DictConfig, script: str) -> Restored:
    """Rebuild model and data from `ckpt_path`; `overrides` (`data`, `model`, `trainer`,
    `seed` nodes of the caller's config, where present) win over the stored config."""
    if not ckpt_path:
        raise UserError(f"ckpt_path is required: python {script} ckpt_path=<file.ckpt>")
    path = Path(str(ckpt_path))
    checkpoint = load_checkpoint(path)
    config = config_of(checkpoint, path)
    changes = {k: overrides[k] for k in ("data", "model", "trainer", "seed") if k in overrides}
    if changes:
        config = OmegaConf.merge(config, changes)
    check_types(config)
    model = instantiate(config.model)
    load_weights(model, checkpoint, path)
    model.eval()
    datamodule = instantiate(config.data)
    state = checkpoint.get(type(datamodule).__qualname__)
    if state:
        datamodule.load_state_dict(state)
    return Restored(path, checkpoint, config, model, datamodule)
