"""Plain `nn.Module` architectures. They return logits (or raw values for regression);
the LightningModule that trains them owns the loss, the activation of the output and
the metrics. No Lightning import here, so a net can be used in any PyTorch code."""

import math
from typing import Literal

import torch
from torch import Tensor, nn

from fivestep.config.types import Fraction, NonNegativeInt, PositiveFloat, PositiveInt
from fivestep.errors import UserError


class TwoLayerNet(nn.Module):
    """The seed's network: two ReLU hidden layers and a linear output.

    With the defaults this is the article's 5 -> 8 -> 4 -> 1 classifier. The article
    ends with a sigmoid; here the output stays a logit and the system applies
    `sigmoid` for probabilities while the loss uses the numerically stable
    `BCEWithLogitsLoss`, which equals sigmoid followed by `BCELoss`.

    Args:
        in_features: number of input columns.
        hidden1: width of the first hidden layer.
        hidden2: width of the second hidden layer.
        out_features: 1 for a binary or regression target, K for K classes.
    """

    def __init__(
        self, in_features: PositiveInt = 5, hidden1: PositiveInt = 8, hidden2: PositiveInt = 4,
        out_features: PositiveInt = 1,
    ) -> None:
        super().__init__()
        self.hidden1 = nn.Linear(in_features, hidden1)
        self.hidden2 = nn.Linear(hidden1, hidden2)
        self.output = nn.Linear(hidden2, out_features)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, in_features)` -> logits `(batch, out_features)`."""
        x = self.relu(self.hidden1(x))
        x = self.relu(self.hidden2(x))
        return self.output(x)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


class MLP(nn.Module):
    """A general multi-layer perceptron: `Linear -> activation -> dropout` per hidden
    layer, then a linear output.

    Args:
        in_features: number of input columns.
        hidden: widths of the hidden layers, e.g. `[64, 32]`; `[]` = a linear model
            (logistic regression with a binary loss).
        out_features: 1 for a binary or regression target, K for K classes.
        activation: one of `ACTIVATIONS` ("relu", "tanh", "gelu", ...).
        dropout: dropout probability after each hidden activation (0 = none).
    """

    def __init__(
        self,
        in_features: PositiveInt,
        hidden: list[PositiveInt] | tuple[PositiveInt, ...] = (64, 32),
        out_features: PositiveInt = 1,
        activation: str = "relu",
        dropout: Fraction = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise UserError(
                f"model.net.activation={activation!r} is not known; pick one of "
                f"{sorted(ACTIVATIONS)}"
            )
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, in_features)` -> `(batch, out_features)`."""
        return self.layers(x)


class FunkyNet(TwoLayerNet):
    """The seed code's "funky" network: the layers of `TwoLayerNet`, but the first
    hidden layer's pre-activation goes through ReLU and tanh in parallel and the two
    are summed. It shows that `forward` is plain Python: any wiring of tensors is a
    network, and autograd follows it. Arguments as `TwoLayerNet`'s.
    """

    def __init__(
        self, in_features: PositiveInt = 5, hidden1: PositiveInt = 8, hidden2: PositiveInt = 4,
        out_features: PositiveInt = 1,
    ) -> None:
        super().__init__(in_features, hidden1, hidden2, out_features)
        self.tanh = nn.Tanh()

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, in_features)` -> `(batch, out_features)`."""
        z = self.hidden1(x)
        x = self.relu(z) + self.tanh(z)  # two activations in parallel, summed
        x = self.relu(self.hidden2(x))
        return self.output(x)


class RegressionNet(TwoLayerNet):
    """The seed code's regression network: 20 inputs -> 40 -> 40 -> 1, ReLU between;
    `TwoLayerNet`'s layers and forward with the seed code's regression sizes.

    Args:
        in_features: number of input columns (20 in the seed).
        hidden1: width of the first hidden layer.
        hidden2: width of the second hidden layer.
        out_features: number of regression outputs.
    """

    def __init__(
        self, in_features: PositiveInt = 20, hidden1: PositiveInt = 40,
        hidden2: PositiveInt = 40, out_features: PositiveInt = 1,
    ) -> None:
        super().__init__(in_features, hidden1, hidden2, out_features)


class PeriodicEmbedding(nn.Module):
    """Each of `features` numbers as a learned `dim`-vector: `cos` and `sin` of
    `2 pi c x` at `frequencies` learned frequencies `c` per feature, then a per-feature
    linear map and ReLU (the "periodic" embeddings of Gorishniy et al., NeurIPS 2022, as
    RealMLP uses them). An MLP on raw numbers draws smooth, nearly linear functions of
    each; the embeddings let it draw thresholds and bumps, as trees do.

    Args:
        features: number of input columns embedded.
        frequencies: frequencies per feature (each gives a cos and a sin).
        dim: width of each feature's embedding.
        sigma: standard deviation of the frequencies' initial values.
    """

    def __init__(self, features: PositiveInt, frequencies: PositiveInt = 16,
                 dim: PositiveInt = 8, sigma: PositiveFloat = 0.1) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(features, frequencies) * sigma)
        self.weight = nn.Parameter(torch.randn(features, 2 * frequencies, dim)
                                   / (2 * frequencies) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(features, dim))

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, features)` -> `(batch, features * dim)`."""
        angle = 2 * torch.pi * x.unsqueeze(-1) * self.frequencies  # (batch, features, k)
        waves = torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
        out = torch.einsum("bfk,fkd->bfd", waves, self.weight) + self.bias
        return torch.relu(out).flatten(1)


def auto_ensemble(rows: int | None, budget: int = 16384, largest: int = 8) -> int:
    """`model.net.ensemble=auto`: how many members a `TabularMLP` trains, from the
    training rows: the power of two nearest `budget / rows`, within `[1, largest]`.
    Small tables, where one net's result swings with its seed and the split, get 8
    members (up to about 2,900 rows), then 4 and 2; the cost is the members' forward and
    backward, so from about 11,600 training rows on a table trains one net."""
    if not rows:
        return 1
    return int(max(1, min(largest, 2 ** round(math.log2(budget / rows)))))


class TabularMLP(nn.Module):
    """The default net for tables: the inputs softly clipped, then an MLP.

    Tables carry extreme values (a price 50 standard deviations out, a count with a long
    tail) that saturate a net's first layer and swing its gradients. `clip` bounds every
    input smoothly, `x / sqrt(1 + (x / clip)^2)`: near-identity for `|x| << clip`,
    tending to `+-clip` beyond it (RealMLP's "smooth clipping", Holzmueller et al.,
    NeurIPS 2024). It runs inside the net, so checkpoints, `predict.py` and the ONNX /
    pt2 exports all do it; with `data.scaling=robust` (median and quartiles of the
    training rows) a typical value sits within +-1 before the clip.

    Args:
        in_features: number of input columns (after encoding).
        out_features: 1 for a binary or regression target, K for K classes.
        hidden: widths of the hidden layers.
        activation: one of `ACTIVATIONS`.
        dropout: dropout probability after each hidden activation.
        clip: the soft bound of the inputs; None = no clipping.
        embedding: "periodic" = each of the first `numeric` inputs goes through a
            `PeriodicEmbedding` before the MLP; "none" = the inputs as they are.
        numeric: how many leading input columns are numbers (the rest, one-hot
            columns, skip the embedding); filled in from the data; None = all.
        embedding_dim: width of each embedded number.
        ensemble: k > 1 = k members share the MLP's hidden layers, each with its own
            multiplicative scaling of the MLP's inputs (initialized with random signs)
            and its own output layer (TabM-mini, Gorishniy et al., ICLR 2025). In
            training the output is `(batch, k, out_features)`, one prediction per member,
            and the system's loss is the members' mean loss, each member learning on
            its own; in evaluation (metrics, `predict.py`, exports) it is the members'
            mean `(batch, out_features)`. 1 = a plain MLP; "auto" (in the config) =
            `auto_ensemble` of the training rows.
    """

    def __init__(
        self,
        in_features: PositiveInt,
        out_features: PositiveInt = 1,
        hidden: list[PositiveInt] | tuple[PositiveInt, ...] = (256, 256),
        activation: str = "relu",
        dropout: Fraction = 0.1,
        clip: PositiveFloat | None = 3.0,
        embedding: str = "periodic",
        numeric: NonNegativeInt | None = None,
        embedding_dim: PositiveInt = 8,
        ensemble: PositiveInt | Literal["auto"] = 1,
    ) -> None:
        super().__init__()
        if ensemble == "auto":  # sized_from_data fills it in before the net is built
            raise UserError("model.net.ensemble=auto is sized from the training rows; "
                            "build the net with train.py, or set model.net.ensemble=8")
        if embedding not in ("periodic", "none"):
            raise UserError(f"model.net.embedding={embedding!r}: use periodic or none")
        numeric = in_features if numeric is None else numeric
        if numeric > in_features:
            raise UserError(f"model.net.numeric={numeric} is more than the "
                            f"{in_features} input columns; set model.net.numeric=null")
        self.clip = clip
        self.numeric = numeric if embedding == "periodic" else 0
        self.embedding = (PeriodicEmbedding(self.numeric, dim=embedding_dim)
                          if self.numeric else None)
        width = in_features + self.numeric * (embedding_dim - 1)
        self.ensemble = ensemble
        if ensemble == 1:
            self.mlp = MLP(width, hidden, out_features, activation, dropout)
            return
        body = MLP(width, hidden, out_features, activation, dropout).layers
        self.mlp = nn.Sequential(*list(body)[:-1])  # the shared hidden layers
        last = body[-1].in_features  # each member's output layer, as nn.Linear draws one
        self.scale = nn.Parameter(torch.randint(0, 2, (ensemble, width)).float() * 2 - 1)
        self.head_weight = nn.Parameter(
            torch.empty(ensemble, last, out_features).uniform_(-last**-0.5, last**-0.5))
        self.head_bias = nn.Parameter(
            torch.empty(ensemble, out_features).uniform_(-last**-0.5, last**-0.5))

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, in_features)` -> `(batch, out_features)`; with `ensemble=k` in
        training, `(batch, k, out_features)`."""
        if self.clip is not None:
            x = x * torch.rsqrt(1 + (x / self.clip) ** 2)
        if self.embedding is not None:
            x = torch.cat([self.embedding(x[:, : self.numeric]), x[:, self.numeric :]], dim=1)
        if self.ensemble == 1:
            return self.mlp(x)
        hidden = self.mlp(x.unsqueeze(1) * self.scale)  # (batch, k, hidden)
        out = torch.einsum("bkh,kho->bko", hidden, self.head_weight) + self.head_bias
        return out if self.training else out.mean(dim=1)


class SmallCNN(nn.Module):
    """A small convolutional net for images `x: (batch, channels, height, width)`, of
    any size: per entry of `channels`, a 3x3 convolution (padding 1), ReLU and a 2x2
    max-pool (rounding up: an image never shrinks below one pixel); then the average over
    what is left of the image and a linear output. For `data=digits`' 8x8 images.

    Args:
        in_channels: channels of the input images (1 for grey levels); from the data.
        channels: output channels of each convolution block, e.g. `[16, 32]`.
        out_features: 1 for a binary or regression target, K for K classes.
        dropout: dropout probability before the output layer (0 = none).
    """

    def __init__(
        self,
        in_channels: PositiveInt = 1,
        channels: list[PositiveInt] | tuple[PositiveInt, ...] = (16, 32),
        out_features: PositiveInt = 1,
        dropout: Fraction = 0.0,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        for size in channels:
            blocks += [nn.Conv2d(width, size, kernel_size=3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
            width = size
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(width, out_features),
        )

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, in_channels, height, width)` -> `(batch, out_features)`."""
        return self.head(self.features(x))
