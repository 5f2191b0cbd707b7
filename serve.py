"""Serve a trained model over HTTP: `python serve.py ckpt_path=<file.ckpt>` (docs/serving.md)."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="serve")
def main(cfg: DictConfig) -> None:
    from fivestep.startup import loading_libraries

    with loading_libraries():  # here so `--help` and `--cfg` stay fast; no GC passes
        from fivestep.errors import run
        from fivestep.serve import serve

    run(serve, cfg)


if __name__ == "__main__":
    from fivestep.errors import check_command_line, composition_errors_as_one_line
    from fivestep.serve import onnx_argument  # `model=<file.onnx>`: a file, not the model group

    sys.argv[1:] = onnx_argument(sys.argv[1:])
    check_command_line("serve", Path(__file__).parent / "configs")  # an unknown key: one line
    with composition_errors_as_one_line():  # what Hydra cannot compose: one line
        main()
