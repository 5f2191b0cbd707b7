import torch

from fivestep.nets import TwoLayerNet


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
