"""`quiet_upstream_notices()` drops exactly the upstream messages it names."""

import logging
import warnings

import pytest

from fivestep.console import quiet_upstream_notices

LEAF = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(...)` instead."


def _warn(message: str, module: str) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_upstream_notices()  # inside: catch_warnings restores the filters after
        warnings.warn_explicit(message, FutureWarning, "x.py", 1, module=module)
    return caught


def test_the_leafspec_warning_from_lightning_is_dropped():
    assert _warn(LEAF, "lightning.pytorch.utilities._pytree") == []


@pytest.mark.parametrize("message, module", [
    (LEAF, "my_project.code"),  # the same text from elsewhere: shown
    ("something else is deprecated", "lightning.pytorch.utilities._pytree"),
])
def test_other_warnings_still_show(message, module):
    assert len(_warn(message, module)) == 1


def test_lightning_records_a_user_cannot_act_on_are_dropped_and_the_gpu_line_kept(caplog):
    quiet_upstream_notices()
    quiet_upstream_notices()  # twice: one filter, not two
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO):
        for message in ("TPU available: False, using: 0 TPU cores",
                        "💡 Tip: For seamless cloud logging, try installing [litlogger]",
                        "Trainer already configured with model summary callbacks: [x]. Skipping",
                        "GPU available: False, used: False",
                        "`Trainer.fit` stopped: `max_epochs=3` reached."):
            logger.info(message)
    assert [r.getMessage() for r in caplog.records] == [
        "GPU available: False, used: False", "`Trainer.fit` stopped: `max_epochs=3` reached."]


def test_onnx_graph_pass_info_is_quiet_and_its_warnings_show(caplog):
    quiet_upstream_notices()
    with caplog.at_level(logging.INFO):
        logging.getLogger("onnxscript.optimizer._constant_folding").info("Skipping folding")
        logging.getLogger("onnx_ir.passes").warning("a real problem")
        logging.getLogger("torch.onnx._internal.exporter._registration").warning(
            "torchvision is not installed. Skipping %s", "torchvision::nms")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
