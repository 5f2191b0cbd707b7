"""`WeightAveraging`: Lightning 2.6's own callback (an average of the weights over the
optimizer steps, e.g. an exponential moving average), with the averaged weights as the
ones a run validates, keeps in its checkpoints and tests.

Lightning's callback already validates with the average, writes it as the checkpoint's
`state_dict` (the raw weights go under `current_model_state`, the average's state under
`averaging_state`, so `ckpt_path=last` resumes both) and copies it into the model when
`fit` ends. One thing it does not do: when `trainer.test(ckpt_path=best)` loads a
checkpoint after `fit`, its `on_load_checkpoint` puts the raw weights back, so the test
would score the weights that were *not* chosen. Here, outside `fit`, loading a
checkpoint leaves its `state_dict` (the average) in place. `eval.py`, `predict.py` and
`export.py` read `state_dict` too: every later use of a checkpoint gets the average.

`configs/callbacks/ema.yaml` builds it with `torch.optim.swa_utils.get_ema_multi_avg_fn`.
"""

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import WeightAveraging as LightningWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class WeightAveraging(LightningWeightAveraging):
    """Lightning's `WeightAveraging` (same arguments: `device`, `use_buffers`, and
    `avg_fn` / `multi_avg_fn` for `torch.optim.swa_utils.AveragedModel`) whose loading of
    a checkpoint restores the raw weights only when `fit` resumes."""

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return  # test / validate / predict: the checkpoint's state_dict, the average
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
