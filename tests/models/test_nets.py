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


def test_tabular_mlp_clips_softly_and_embeds_only_the_numeric_columns():
    import torch

    from fivestep.models.nets import TabularMLP

    torch.manual_seed(0)
    net = TabularMLP(5, 2, hidden=[8], numeric=3, dropout=0.0)
    x = torch.zeros(2, 5)
    x[1, 0] = 1e6  # an extreme value ends near the clip, not a million
    clipped = x * torch.rsqrt(1 + (x / 3.0) ** 2)
    assert clipped[1, 0].item() == pytest.approx(3.0, abs=1e-4)
    assert net.embedding.frequencies.shape == (3, 16)
    assert net.mlp.layers[0].in_features == 3 * 8 + 2  # embedded numbers + one-hot columns
    assert net(x).shape == (2, 2) and torch.isfinite(net(x)).all()
    plain = TabularMLP(5, 1, hidden=[8], embedding="none", clip=None)
    assert plain.embedding is None and plain.mlp.layers[0].in_features == 5


def test_tabular_mlp_refuses_more_numeric_columns_than_inputs():
    from fivestep.models.nets import TabularMLP

    with pytest.raises(UserError, match=r"model.net.numeric=6 is more than the 5 input"):
        TabularMLP(5, 1, numeric=6)
    with pytest.raises(UserError, match=r"model.net.embedding='spline'"):
        TabularMLP(5, 1, embedding="spline")


def test_tabular_mlp_ensemble_trains_k_members_and_evaluates_their_mean():
    from fivestep.models.nets import TabularMLP

    torch.manual_seed(0)
    net = TabularMLP(5, 3, hidden=[8, 8], numeric=2, dropout=0.0, ensemble=4)
    x = torch.randn(6, 5)
    members = net(x)  # training: one prediction per member
    assert members.shape == (6, 4, 3)
    assert net.scale.shape == (4, 2 * 8 + 3) and set(net.scale.unique().tolist()) <= {-1.0, 1.0}
    assert not torch.allclose(members[:, 0], members[:, 1])  # members differ
    net.eval()
    assert torch.allclose(net(x), members.mean(dim=1), atol=1e-6)  # evaluation: their mean
    one = TabularMLP(5, 3, hidden=[8], ensemble=1)
    assert one(x).shape == (6, 3) and not hasattr(one, "scale")


@pytest.mark.parametrize(("rows", "members"), [(None, 1), (265, 8), (2_600, 8), (4_000, 4),
                                               (6_000, 2), (32_000, 1), (10**7, 1)])
def test_auto_ensemble_gives_small_tables_more_members(rows, members):
    from fivestep.models.nets import auto_ensemble

    assert auto_ensemble(rows) == members
