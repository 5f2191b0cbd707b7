"""What a checkpoint needs beyond Lightning's own state: the run's config and its RNGs.

`RunState` writes `checkpoint["fivestep"]`:

- `config`: the resolved composed config as plain data (the `hydra` node left out),
  so `eval.py`, `predict.py` and `export.py` rebuild the model and the data from the
  checkpoint alone;
- `choices`: Hydra's group choices (`{"experiment": "two_layer", "data": ...}`), so
  `ckpt_path=last` can find the newest checkpoint of the same experiment;
- `rng`: the states of Python's, NumPy's and torch's random generators (CPU and every
  CUDA device), as lists and tensors.

On resume it puts those generator states back at the start of the first resumed
epoch, so dropout and anything else drawing random numbers continues exactly as in
an uninterrupted run (Lightning restores weights, optimizer and loop counters, but
not the generators). Everything is plain data: the checkpoint loads with
`torch.load(path, weights_only=True)`.
"""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

KEY = "fivestep"


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without its `hydra` node, as dicts, lists and scalars."""
    plain = {}
    for key in cfg:
        if key != "hydra":  # before reading: `hydra` holds values only a sweep resolves
            value = cfg[key]
            plain[str(key)] = (
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            )
    return plain


def hydra_choices() -> dict[str, str | None]:
    """Hydra's config group choices of this run, or `{}` outside a Hydra run."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {str(k): (None if v is None else str(v)) for k, v in choices.items()}


def capture_rng() -> dict[str, Any]:
    """The state of every random generator a run draws from, as plain data."""
    algorithm, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss_next],
        "numpy": [algorithm, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back generator states saved by `capture_rng`."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    algorithm, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((algorithm, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RunState(L.Callback):
    """Store the run's config and RNG states in every checkpoint; restore the RNGs on resume.

    Args:
        cfg: the run's composed config (resolved now, so later changes do not leak in).
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.config = plain_config(cfg)
        self.choices = hydra_choices()
        self._rng_to_restore: dict[str, Any] | None = None

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[KEY] = {"config": self.config, "choices": self.choices, "rng": capture_rng()}

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._rng_to_restore = checkpoint.get(KEY, {}).get("rng")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Here rather than at load time: between loading and the first resumed epoch
        # Lightning builds the optimizer and the loaders, which an uninterrupted run did
        # before the checkpoint was written.
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None
