import pytest
import torch

from fivestep.errors import UserError
from fivestep.models.nets import MLP, FunkyNet, RegressionNet, TwoLayerNet


def test_two_layer_net_has_the_seed_shape():
    net = TwoLayerNet()
    shapes = [tuple(p.shape) for p in net.parameters()]
    assert shapes == [(8, 5), (8,), (4, 8), (4,), (1, 4), (1,)]
    assert net(torch.zeros(3, 5)).shape == (3, 1)


def test_two_layer_net_returns_logits_not_probabilities():
    torch.manual_seed(0)
    net = TwoLayerNet(in_features=2, hidden1=3, hidden2=3, out_features=4)
    with torch.no_grad():
        net.output.bias.fill_(5.0)  # a sigmoid output could never exceed 1
    out = net(torch.randn(10, 2))
    assert out.shape == (10, 4)
    assert (out > 1).any()


def test_bce_with_logits_equals_sigmoid_then_bce():
    torch.manual_seed(0)
    logits, target = torch.randn(100), torch.randint(0, 2, (100,)).float()
    stable = torch.nn.BCEWithLogitsLoss()(logits, target)
    seed_form = torch.nn.BCELoss()(torch.sigmoid(logits), target)
    assert torch.allclose(stable, seed_form, atol=1e-6)


def test_regression_net_has_the_seed_shape():
    shapes = [tuple(p.shape) for p in RegressionNet().parameters()]
    assert shapes == [(40, 20), (40,), (40, 40), (40,), (1, 40), (1,)]


def test_funky_net_sums_relu_and_tanh_of_the_first_layer():
    torch.manual_seed(0)
    net = FunkyNet(in_features=3, hidden1=4, hidden2=2, out_features=1)
    x = torch.randn(5, 3)
    z = net.hidden1(x)
    expected = net.output(torch.relu(net.hidden2(torch.relu(z) + torch.tanh(z))))
    torch.testing.assert_close(net(x), expected)


def test_mlp_layers_activation_dropout_and_linear_case():
    net = MLP(6, hidden=[5, 4], out_features=3, activation="tanh", dropout=0.1)
    kinds = [type(m).__name__ for m in net.layers]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert net(torch.zeros(2, 6)).shape == (2, 3)
    assert [type(m).__name__ for m in MLP(6, hidden=[]).layers] == ["Linear"]
    with pytest.raises(UserError, match=r"activation='swish'.*\['elu', 'gelu'"):
        MLP(6, activation="swish")
