"""The seam between a training run and the sweep it may be part of."""

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def trial_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The pruning callback when this run is a trial of the Optuna sweeper, else none
    (outside an Optuna sweep, Optuna is not even imported)."""
    if not HydraConfig.initialized() or "optuna" not in str(HydraConfig.get().sweeper._target_):
        return []
    from fivestep.sweep.pruning import trial_callbacks as pruning_callbacks

    return pruning_callbacks(cfg)
