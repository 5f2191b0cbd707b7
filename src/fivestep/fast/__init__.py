"""Opt-in speed-ups that reach into Lightning's private members: `callbacks=fast`
(checkpoints written on a clock, a progress bar redrawn on a clock) and
`logger=tensorboard_fast` (one event per `log_metrics`, flushes on a clock).

The default run never imports this package. What each file buys, measured with
`scripts/benchmark.py`, is in its header and in docs/performance.md.

Every private member used here is listed once below, with the Lightning version it
was checked against; `tests/fast/test_private_members.py` fails by name when an
upgrade removes one. An upgrade that changes what one of them does is caught by the
behaviour tests in `tests/fast/`.
"""

CHECKED_AGAINST = "lightning 2.6.6"

# (class, member, where the member lives: "class" attribute or set on an "instance")
PRIVATE_MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("lightning.pytorch.Trainer", "_checkpoint_connector", "instance"),
    ("lightning.pytorch.trainer.connectors.checkpoint_connector._CheckpointConnector",
     "dump_checkpoint", "class"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_save_checkpoint", "class"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_remove_checkpoint", "class"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_monitor_candidates", "class"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_save_last_checkpoint", "class"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_should_skip_saving_checkpoint", "class"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_every_n_train_steps", "instance"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_train_time_interval", "instance"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_last_global_step_saved", "instance"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_last_checkpoint_saved", "instance"),
    ("lightning.pytorch.LightningModule", "_current_fx_name", "instance"),
    ("lightning.pytorch.callbacks.TQDMProgressBar", "_should_update", "class"),
    ("lightning.pytorch.callbacks.progress.tqdm_progress.Tqdm", "refresh", "class"),
    ("lightning.pytorch.loggers.TensorBoardLogger", "_prefix", "instance"),
    # torch's, not Lightning's: the writer that reopens a closed event file (the test
    # stage logs after fit has closed it)
    ("torch.utils.tensorboard.SummaryWriter", "_get_file_writer", "class"),
)
