"""`quiet_upstream_notices()`: silence the messages of libraries that a user of this
project cannot act on, each one by its text and the module that prints it.

A normal `python train.py experiment=two_layer` printed, besides its own lines,
Lightning's use of PyTorch's deprecated `LeafSpec` (a FutureWarning, twice), "Trainer
already configured with model summary callbacks ... Skipping setting a default
`ModelSummary` callback" (we configure it on purpose), "TPU available: False" and "HPU
available" (no such device here), an advertisement for a cloud logger, and on export
onnxscript's and onnx-ir's INFO lines about its graph passes. Each filter below names
exactly one message, so a new warning from the same library still shows; the GPU line
("GPU available: True, used: False") stays, since a user can act on it.
"""

import logging
import warnings

# (message regex, module regex, category): `warnings.filterwarnings` matches the message
# from its start, and the module that the warning is attributed to.
_WARNINGS: list[tuple[str, str, type[Warning]]] = [
    # Lightning 2.6 checks `isinstance(spec, LeafSpec)`, deprecated by torch 2.13
    # (during training, and through copyreg when export copies the module)
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated",
     r"(lightning\.pytorch\.utilities\._pytree|copyreg)$", FutureWarning),
    # on any machine with SLURM's client installed (a login node, this project's CI), every
    # local run is told to prepend `srun`; running under SLURM is a choice the docs
    # describe (docs/scaling-out.md), not something a local run should be nagged into
    (r"The `srun` command is available on your system but is not used",
     r"lightning\.fabric\.plugins\.environments\.slurm$", UserWarning),
]

# logger name -> the starts of the records it prints that say nothing to act on
_RECORDS: dict[str, tuple[str, ...]] = {
    "lightning.pytorch.utilities.rank_zero": (
        "Trainer already configured with model summary callbacks",  # ours, on purpose
        "TPU available:",
        "HPU available:",
        "💡 Tip:",  # "For seamless cloud logging ... try installing litlogger"
    ),
    "lightning.fabric.utilities.rank_zero": ("TPU available:", "HPU available:", "💡 Tip:"),
    # the ONNX exporter's registry of torchvision's operators: this project uses none
    "torch.onnx._internal.exporter._registration": ("torchvision is not installed",),
}

# loggers whose INFO lines narrate a library's internals (onnx export's graph passes);
# their warnings and errors still show
_CHATTY_LOGGERS = ("onnxscript", "onnx_ir")


class _DropStarts(logging.Filter):
    """Drops the records whose message starts with one of `starts`."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.starts)


def quiet_upstream_notices() -> None:
    """Install the filters above (idempotent: a second call adds nothing)."""
    for message, module, category in _WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name, starts in _RECORDS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropStarts) for f in logger.filters):
            logger.addFilter(_DropStarts(starts))
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET too; a level a user set higher stays
            logger.setLevel(logging.WARNING)
