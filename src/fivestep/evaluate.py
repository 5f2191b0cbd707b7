"""`evaluate(cfg)`: test a checkpoint on its data's test split, from the checkpoint alone.

Reads top to bottom: rebuild the model and the data from the config stored in the
checkpoint (with the caller's overrides), seed, build a Trainer without loggers or
checkpointing, run the test split, write the metrics as JSON into this run's folder
and return them. The root `eval.py` only wraps it with `@hydra.main`.
"""

import json
import logging
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from fivestep.checkpointing.reading import restore
from fivestep.errors import UserError

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test `cfg.ckpt_path`; write `<output_dir>/metrics.json`; return the test metrics."""
    restored = restore(cfg.get("ckpt_path"), cfg, "eval.py")
    config = restored.config
    if config.get("seed") is not None:
        L.seed_everything(config.seed, workers=True)
    if not config.data.get("test_fraction", 1):
        raise UserError(
            f"checkpoint {str(restored.path)!r}: its data has no test split "
            "(data.test_fraction=0), so there is nothing held out to evaluate on"
        )

    out = Path(cfg.paths.output_dir)
    trainer: L.Trainer = instantiate(
        config.trainer,
        default_root_dir=str(out),
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    (results,) = trainer.test(restored.model, datamodule=restored.datamodule)
    metrics = {key: float(value) for key, value in sorted(results.items())}

    report = {
        "ckpt_path": str(restored.path.resolve()),
        "epoch": restored.checkpoint.get("epoch"),
        "global_step": restored.checkpoint.get("global_step"),
        "metrics": metrics,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("Test metrics of %s: %s", restored.path, json.dumps(metrics))
    log.info("Wrote %s", out / "metrics.json")
    return metrics
