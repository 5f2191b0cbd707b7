"""Every private Lightning member `fivestep.fast` uses still exists (by name)."""

import importlib

import pytest

from fivestep.fast import PRIVATE_MEMBERS


def _owner(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _instance(cls: type, tmp_path) -> object:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    if issubclass(cls, L.Trainer):
        return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(tmp_path))
    if issubclass(cls, ModelCheckpoint):
        return ModelCheckpoint(dirpath=str(tmp_path))
    if issubclass(cls, TensorBoardLogger):
        return TensorBoardLogger(str(tmp_path))
    return cls()


@pytest.mark.parametrize(("owner", "member", "where"), PRIVATE_MEMBERS,
                         ids=[f"{o.rsplit('.', 1)[-1]}.{m}" for o, m, _ in PRIVATE_MEMBERS])
def test_private_member_exists(owner, member, where, tmp_path):
    cls = _owner(owner)
    holder = cls if where == "class" else _instance(cls, tmp_path)
    assert hasattr(holder, member), (
        f"{owner}.{member} is gone: fivestep.fast was checked against another Lightning; "
        "update src/fivestep/fast/ (or drop the speed-up) for this version"
    )


def test_the_default_run_never_imports_the_fast_package():
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from fivestep.config.compose import compose_run_config\n"
        "from fivestep.config.instantiate import instantiate_all\n"
        "import pathlib, tempfile\n"
        "out = pathlib.Path(tempfile.mkdtemp())\n"
        "configs = pathlib.Path('configs').resolve()\n"
        "cfg = compose_run_config(configs, ['experiment=two_layer'], out)\n"
        "instantiate_all(cfg.callbacks); instantiate_all(cfg.logger)\n"
        "import fivestep.train\n"
        "print(sorted(m for m in sys.modules if m.startswith('fivestep.fast')))\n"
    )
    from ..conftest import ROOT

    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
