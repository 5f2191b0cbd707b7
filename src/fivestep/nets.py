"""Plain `nn.Module` architectures. They return logits (or raw values for regression);
the LightningModule that trains them owns the loss, the activation of the output and
the metrics. No Lightning import here, so a net can be used in any PyTorch code."""

from torch import Tensor, nn


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
        self, in_features: int = 5, hidden1: int = 8, hidden2: int = 4, out_features: int = 1
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
