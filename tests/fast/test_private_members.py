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


def test_the_default_run_never_uses_the_fast_package(make_cfg):
    """No default config names a `fivestep.fast` target, and no module outside
    `fast/` imports it: the default path is stock Lightning."""
    from omegaconf import OmegaConf

    from ..conftest import ROOT

    cfg = make_cfg("experiment=two_layer")
    targets = []

    def walk(node):
        if isinstance(node, dict):
            targets.extend(str(v) for k, v in node.items() if k == "_target_")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(OmegaConf.to_container(cfg.callbacks) | OmegaConf.to_container(cfg.logger))
    assert targets and not [t for t in targets if t.startswith("fivestep.fast")]
    package = ROOT / "src" / "fivestep"
    users = [p.relative_to(package) for p in package.rglob("*.py")
             if "fast" not in p.relative_to(package).parts[:1]
             and "fivestep.fast" in p.read_text()]
    assert users == []
