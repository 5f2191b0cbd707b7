"""`model.compile=true`: the net is `torch.compile`d in place and trains to the same
numbers as the plain net; its checkpoint loads into an uncompiled model."""

import pytest
import torch

from fivestep.train import train


@pytest.mark.slow  # Inductor compiles C++ for the CPU: tens of seconds
def test_compiled_net_trains_like_the_plain_one(make_cfg, tmp_path):
    common = ["experiment=two_layer", "trainer.max_epochs=5", "logger=[]",
              "callbacks.progress_bar.refresh_rate=0", "extras.print_config=false"]
    plain = train(make_cfg(*common))
    compiled = train(make_cfg(*common, "model.compile=true"))
    for key in ("train/loss", "val/loss", "test/loss"):
        assert compiled[key] == pytest.approx(plain[key], abs=1e-5)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert not any("_orig_mod" in key for key in last["state_dict"])  # the plain net's keys


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_compile_is_a_switch_of_the_system(make_cfg):
    from fivestep.config.instantiate import build

    sized = ["experiment=two_layer", "model.task=binary", "model.num_classes=2",
             "model.net.in_features=5", "model.net.out_features=1"]
    compiled = build(make_cfg(*sized, "model.compile=true").model)
    assert compiled.net._compiled_call_impl is not None  # compiled lazily, on the first call
    assert build(make_cfg(*sized).model).net._compiled_call_impl is None
