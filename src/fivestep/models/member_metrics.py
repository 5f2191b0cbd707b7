"""`StackedMetrics`: the members' metrics computed over a member axis, in one pass.

A `Members` run keeps one torchmetrics collection per member and split; updating,
computing and resetting them member by member costs about a millisecond per member and
epoch, more than a small member's whole training step. When every member's collection
holds the same metrics, all of kinds below with torchmetrics' default settings, their
values come instead from one computation over `(members, rows)` tensors, with
torchmetrics' own formulas and accumulation (per-batch sums, then one division), so
each member's value is the one its collection gives (to float rounding; tested in
`tests/models/test_member_metrics.py` against torchmetrics on data with ties):

| torchmetrics class | kind | state per member |
|---|---|---|
| `BinaryAccuracy`, `BinaryF1Score` (threshold 0.5, global) | counts | tp, fp, tn, fn |
| `BinaryAUROC` (exact: `thresholds=None`, no `max_fpr`) | curve | every prediction |
| `MeanSquaredError`, `MeanAbsoluteError` (one output) | sums | error sums, rows |
| `R2Score` (one output, not adjusted) | sums | target sums, residual sums |

Anything else (multi-class metrics, `model/metrics=mcc`, your own class) keeps the
per-member collections: `StackedMetrics.of` returns None.
"""

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score


def _kind(metric: Metric) -> str | None:
    """What `StackedMetrics` computes for `metric`, or None if it cannot."""
    kind = type(metric)
    if kind in (BinaryAccuracy, BinaryF1Score):
        plain = (metric.threshold == 0.5 and metric.multidim_average == "global"
                 and metric.ignore_index is None)
        if kind is BinaryF1Score:
            return "f1" if plain and metric.beta == 1.0 and metric.zero_division == 0 else None
        return "acc" if plain else None
    if kind is BinaryAUROC:
        plain = metric.thresholds is None and metric.max_fpr is None and metric.ignore_index is None
        return "auroc" if plain else None
    if kind is MeanSquaredError:
        return "mse" if metric.squared and metric.num_outputs == 1 else None
    if kind is MeanAbsoluteError:
        return "mae" if metric.num_outputs == 1 else None
    if kind is R2Score:
        plain = (getattr(metric, "num_outputs", 1) == 1 and metric.adjusted == 0
                 and metric.multioutput == "uniform_average")
        return "r2" if plain else None
    return None


def _kinds(collection: MetricCollection) -> dict[str, str] | None:
    """`{logged key: kind}` of a collection, or None if any metric has no kind."""
    prefix, postfix = collection.prefix or "", collection.postfix or ""
    kinds = {}
    for name, metric in collection.items(keep_base=True, copy_state=False):
        kind = _kind(metric)
        if kind is None:
            return None
        kinds[f"{prefix}{name}{postfix}"] = kind
    return kinds


class StackedMetrics:
    """The metrics of `members` members, updated with `(members, batch)` predictions.

    Args:
        kinds: `{logged key: kind}` (see the module docstring), every member's.
        members: how many members.
    """

    def __init__(self, kinds: dict[str, str], members: int) -> None:
        self.kinds, self.members = dict(kinds), members
        self.binary = any(k in ("acc", "f1", "auroc") for k in self.kinds.values())
        self.reset()

    @classmethod
    def of(cls, collections: Sequence[MetricCollection]) -> "StackedMetrics | None":
        """One `StackedMetrics` for these per-member collections, or None when they differ
        or hold a metric it does not compute."""
        kinds = [_kinds(c) for c in collections]
        if not kinds or kinds[0] is None or any(k != kinds[0] for k in kinds):
            return None
        return cls(kinds[0], len(collections))

    def reset(self) -> None:
        self._counts: Tensor | None = None  # (members, 4): tp, fp, tn, fn
        self._sums: Tensor | None = None  # (members, 5): sse, sae, y, y^2, rss
        self._rows = 0
        self._preds: list[Tensor] = []
        self._targets: list[Tensor] = []

    def update(self, preds: Tensor, target: Tensor) -> None:
        """`preds: (members, batch)` (probabilities or logits of the positive class, or
        values); `target: (batch,)` shared by every member, or `(members, batch)`."""
        preds = preds.detach()
        target = target.detach()
        self._rows += preds.shape[1]
        if self.binary:
            inside = ((preds >= 0) & (preds <= 1)).all(dim=1, keepdim=True)
            preds = torch.where(inside, preds, preds.sigmoid())  # as torchmetrics formats them
            if "auroc" in self.kinds.values():
                self._preds.append(preds)
                self._targets.append(target.expand_as(preds))
            hard, positive = preds > 0.5, (target == 1).expand_as(preds)
            counts = torch.stack([(hard & positive).sum(1), (hard & ~positive).sum(1),
                                  (~hard & ~positive).sum(1), (~hard & positive).sum(1)], dim=1)
            self._counts = counts if self._counts is None else self._counts + counts
            return
        diff = preds - target
        target = target.expand_as(preds)
        sums = torch.stack([(diff * diff).sum(1), diff.abs().sum(1), target.sum(1),
                            (target * target).sum(1), (diff * diff).sum(1)], dim=1)
        self._sums = sums if self._sums is None else self._sums + sums

    def compute(self) -> dict[str, Tensor]:
        """`{logged key: (members,) values}`."""
        out: dict[str, Tensor] = {}
        for key, kind in self.kinds.items():
            if kind == "acc":
                tp, fp, tn, fn = self._counts.unbind(1)
                out[key] = _divide(tp + tn, tp + tn + fp + fn)
            elif kind == "f1":
                tp, fp, _, fn = self._counts.unbind(1)
                out[key] = _divide(2 * tp, 2 * tp + fn + fp)
            elif kind == "auroc":
                out[key] = binary_auroc(torch.cat(self._preds, 1), torch.cat(self._targets, 1))
            elif kind == "mse":
                out[key] = self._sums[:, 0] / self._rows
            elif kind == "mae":
                out[key] = self._sums[:, 1] / self._rows
            else:
                out[key] = _r2(self._sums, self._rows)
        return out


def _divide(num: Tensor, denom: Tensor) -> Tensor:
    """`num / denom`, 0 where `denom` is 0 (torchmetrics' `zero_division=0`)."""
    num, denom = num.float(), denom.float()
    return torch.where(denom == 0, torch.zeros_like(num), num / torch.where(denom == 0, 1, denom))


def _r2(sums: Tensor, rows: int) -> Tensor:
    """R^2 per member from the accumulated sums, as torchmetrics' `R2Score` computes it
    (1 where residuals and the target's spread are both near 0, 0 where only the
    spread is)."""
    if rows < 2:
        raise ValueError("Needs at least two samples to calculate r2 score.")
    sum_obs, sum_squared_obs, rss = sums[:, 2], sums[:, 3], sums[:, 4]
    tss = sum_squared_obs - sum_obs * (sum_obs / rows)
    cond_rss = ~torch.isclose(rss, torch.zeros_like(rss), atol=1e-4)
    cond_tss = ~torch.isclose(tss, torch.zeros_like(tss), atol=1e-4)
    raw = torch.where(cond_rss & cond_tss, 1 - rss / torch.where(cond_tss, tss, 1), 1.0)
    return torch.where(cond_rss & ~cond_tss, 0.0, raw)


def binary_auroc(preds: Tensor, target: Tensor) -> Tensor:
    """The exact ROC AUC of each row of `preds: (members, rows)` against `target` (same
    shape, 0/1), as torchmetrics' `BinaryAUROC(thresholds=None)` computes it: the
    trapezoids between the ROC points at each distinct score, scores sorted from the
    highest; 0 for a member whose targets hold one class only."""
    members, rows = preds.shape
    order = torch.argsort(preds, dim=1, descending=True)
    scores = torch.gather(preds, 1, order)
    tps = torch.cumsum(torch.gather(target, 1, order).float(), dim=1)
    index = torch.arange(rows, device=preds.device).expand(members, rows)
    fps = 1 + index - tps
    # a point per distinct score: each row of a run of equal scores takes the run's end
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:, :-1] = scores[:, 1:] != scores[:, :-1]
    ends = torch.where(last, index, rows).flip(1).cummin(dim=1).values.flip(1)
    tps, fps = torch.gather(tps, 1, ends), torch.gather(fps, 1, ends)
    zero = torch.zeros(members, 1, dtype=tps.dtype, device=tps.device)
    tps, fps = torch.cat([zero, tps], 1), torch.cat([zero, fps], 1)
    tpr = torch.where(tps[:, -1:] > 0, tps / tps[:, -1:].clamp(min=1), 0.0)
    fpr = torch.where(fps[:, -1:] > 0, fps / fps[:, -1:].clamp(min=1), 0.0)
    return torch.trapezoid(tpr, fpr, dim=1)
