"""Test a checkpoint: `python eval.py ckpt_path=<file.ckpt>` (see configs/eval.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    from fivestep.startup import loading_libraries

    with loading_libraries():  # here so `--help` and `--cfg` stay fast; no GC passes
        from fivestep.errors import run
        from fivestep.evaluate import evaluate

    run(evaluate, cfg)


if __name__ == "__main__":
    from fivestep.errors import check_command_line, composition_errors_as_one_line

    check_command_line("eval", Path(__file__).parent / "configs")  # an unknown key: one line
    with composition_errors_as_one_line():  # what Hydra cannot compose: one line
        main()
