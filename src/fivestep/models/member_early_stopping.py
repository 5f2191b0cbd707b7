"""`MemberEarlyStopping`: Lightning's `EarlyStopping`, acting on each member of a
`fivestep.models.members.Members` run alone.

`Members.configure_callbacks` returns one in place of each `EarlyStopping` of the
trainer (Lightning replaces a trainer callback by a subclass the module returns), with
its settings (`monitor`, `mode`, `patience`, `min_delta`). After every validation it
reads each training member's own `monitor` value and applies Lightning's rule to it: an
improvement is a value better than the member's best by more than `min_delta`; after
`patience` validations without one, the member stops (`Members.stop_member(k, ...,
"stopped")`): it is not updated again and keeps its best state, as its standalone run
stops there and tests its best checkpoint; it stays in the ensemble. The run ends when
every member has stopped or failed.
"""

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping


class MemberEarlyStopping(EarlyStopping):
    """`EarlyStopping` per member; see the module docstring. Takes `EarlyStopping`'s
    arguments; `stopping_threshold` and `divergence_threshold` are not applied per member
    (`like` refuses them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.member_best: list[float] = []
        self.member_wait: list[int] = []

    @classmethod
    def like(cls, other: EarlyStopping) -> "MemberEarlyStopping":
        """A per-member copy of `other`'s settings."""
        from fivestep.errors import UserError

        if other.stopping_threshold is not None or other.divergence_threshold is not None:
            raise UserError("early stopping of members applies patience and min_delta only; "
                            "drop callbacks.early_stopping.stopping_threshold and "
                            "divergence_threshold")
        return cls(monitor=other.monitor, mode=other.mode, patience=other.patience,
                   min_delta=abs(other.min_delta), verbose=other.verbose,
                   check_finite=other.check_finite)

    def _run_early_stopping_check(self, trainer: L.Trainer) -> None:
        members = trainer.lightning_module
        if trainer.fast_dev_run or not hasattr(members, "stop_member"):
            return
        if not self.member_best:
            worst = torch.inf if self.mode == "min" else -torch.inf
            self.member_best = [worst] * len(members)
            self.member_wait = [0] * len(members)
        for k in members.training_members():
            values = members.history[k].get(self.monitor)
            if not values:
                continue
            current = torch.tensor(values[-1])
            # Lightning's rule; its min_delta is negative in mode "min"
            if self.monitor_op(current - self.min_delta, torch.tensor(self.member_best[k])):
                self.member_best[k] = float(current)
                self.member_wait[k] = 0
                continue
            self.member_wait[k] += 1
            if self.member_wait[k] >= self.patience:
                members.stop_member(
                    k, f"stopped early at epoch {trainer.current_epoch}: {self.monitor} did not "
                    f"improve for {self.patience} epochs (best {self.member_best[k]:.4f})",
                    status="stopped")
        if not members.training_members():
            trainer.should_stop = True
            self.stopped_epoch = trainer.current_epoch

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "member_best": self.member_best,
                "member_wait": self.member_wait}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.member_best = list(state_dict.get("member_best", []))
        self.member_wait = list(state_dict.get("member_wait", []))
