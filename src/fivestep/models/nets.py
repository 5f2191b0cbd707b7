"""Plain `nn.Module` architectures. They return logits (or raw values for regression);
the LightningModule that trains them owns the loss, the activation of the output and
the metrics. No Lightning import here, so a net can be used in any PyTorch code."""

from torch import Tensor, nn

from fivestep.config.types import Fraction, PositiveInt
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
