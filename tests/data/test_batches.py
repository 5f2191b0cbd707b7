import torch

from fivestep.data.batches import TensorBatches


def _rows(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(n * 2, dtype=torch.float32).view(n, 2), torch.arange(n)


def test_full_batch_is_one_view_of_everything():
    x, y = _rows()
    batches = list(TensorBatches((x, y), batch_size=None))
    assert len(batches) == 1
    bx, by = batches[0]
    assert torch.equal(by, y)
    assert bx.data_ptr() == x.data_ptr()  # a view, not a copy


def test_minibatches_cover_every_row_once_and_reshuffle_per_epoch():
    x, y = _rows(10)
    loader = TensorBatches((x, y), batch_size=3, shuffle=True, seed=7)
    assert len(loader) == 4
    loader.set_epoch(0)
    first = torch.cat([b[1] for b in loader])
    loader.set_epoch(1)
    second = torch.cat([b[1] for b in loader])
    assert sorted(first.tolist()) == list(range(10)) == sorted(second.tolist())
    assert not torch.equal(first, second)
    loader.set_epoch(0)
    assert torch.equal(torch.cat([b[1] for b in loader]), first)  # same epoch, same order


def test_ranks_get_disjoint_equal_shards_when_padded():
    x, y = _rows(9)
    shards = [
        torch.cat([b[1] for b in TensorBatches((x, y), 2, True, 0, rank, 2, pad=True)])
        for rank in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1]) == 5
    assert set(shards[0].tolist()) | set(shards[1].tolist()) == set(range(9))


def test_batches_are_sliced_on_the_device_the_tables_live_on():
    # `data.on_device=true` moves the tables once; every batch and the shuffled order
    # then stay there. The "meta" device stands in for a GPU (shapes, no data).
    from fivestep.data.batches import to_device

    splits = to_device(
        {"train": (torch.zeros(10, 3), torch.zeros(10))}, torch.device("meta")
    )
    batches = TensorBatches(splits["train"], batch_size=4, shuffle=True, seed=0)
    shapes = []
    for x, y in batches:
        assert x.device.type == y.device.type == "meta"
        shapes.append(tuple(x.shape))
    assert shapes == [(4, 3), (4, 3), (2, 3)]
