"""Test a checkpoint: `python eval.py ckpt_path=<file.ckpt>` (see configs/eval.yaml)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    from fivestep.errors import run  # imported here so `--help` and `--cfg` stay fast
    from fivestep.evaluate import evaluate

    run(evaluate, cfg)


if __name__ == "__main__":
    main()
