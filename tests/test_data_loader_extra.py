"""DataLoader's PyTorch arguments (num_workers, generator, sampler, batch_sampler, ...), cr.Generator
and the array image transforms."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import data
from chainrule.data import transforms as T


class _Aug(data.Dataset):
    """Images whose random crop/flip shows in the batch (per-sample loading, random transforms)."""

    def __init__(self, n=23):
        self.x = np.arange(n * 16, dtype=np.float32).reshape(n, 1, 4, 4)
        self.aug = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.aug(self.x[i]), i


def _epochs(loader, n=2):
    return [[(x.numpy().copy(), y.numpy().copy()) for x, y in loader] for _ in range(n)]


def test_num_workers_never_changes_results_for_a_fixed_generator():
    runs = []
    for workers in (0, 1, 3):
        g = cr.Generator().manual_seed(7)
        loader = data.DataLoader(_Aug(), batch_size=5, shuffle=True, generator=g,
                                 num_workers=workers, pin_memory=True, prefetch_factor=2)
        runs.append(_epochs(loader))
    for other in runs[1:]:
        for ea, eb in zip(runs[0], other):
            for (xa, ya), (xb, yb) in zip(ea, eb):
                np.testing.assert_array_equal(xa, xb)
                np.testing.assert_array_equal(ya, yb)
    # the epochs differ in order and in augmentation, and the augmentation really does something
    assert not np.array_equal(runs[0][0][0][1], runs[0][1][0][1])
    g2 = cr.Generator().manual_seed(8)
    other_seed = _epochs(data.DataLoader(_Aug(), batch_size=5, shuffle=True, generator=g2))
    assert not np.array_equal(other_seed[0][0][1], runs[0][0][0][1])


def test_sampler_batch_sampler_collate_fn_and_worker_init_fn():
    ds = data.TensorDataset(cr.arange(10.0), cr.arange(10))
    got = [y.numpy().tolist() for _, y in data.DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 1])]
    assert got == [[9, 8, 7], [1]]
    bs = [[0, 1], [5, 6, 7]]
    loader = data.DataLoader(ds, batch_sampler=bs)
    assert len(loader) == 2 and [y.numpy().tolist() for _, y in loader] == bs
    seen = []
    loader = data.DataLoader(_Aug(6), batch_size=2, num_workers=2, worker_init_fn=seen.append,
                             collate_fn=lambda s: [i for _, i in s], seed=0)
    assert list(loader) == [[0, 1], [2, 3], [4, 5]] and sorted(seen) in ([0], [0, 1])
    with pytest.raises(ValueError, match="mutually exclusive"):
        data.DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="num_workers"):
        data.DataLoader(ds, num_workers=-1)


def test_generator_api():
    g = cr.Generator().manual_seed(3)
    assert g.initial_seed() == 3
    state = g.get_state()
    a = g.numpy.random(3)
    g.set_state(state)
    np.testing.assert_array_equal(a, g.numpy.random(3))
    order = lambda gen: data.DataLoader(data.TensorDataset(cr.arange(20)), batch_size=20,
                                        shuffle=True, generator=gen).order()
    np.testing.assert_array_equal(order(cr.Generator().manual_seed(1)), order(cr.Generator().manual_seed(1)))


def test_transforms_values():
    img = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    flipped = T.RandomHorizontalFlip(p=1.0)(img)
    np.testing.assert_array_equal(flipped, img[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    norm = T.Normalize([1.0, 2.0], [2.0, 4.0])(img)
    np.testing.assert_allclose(norm[1], (img[1] - 2) / 4)
    crops = {T.RandomCrop(3, padding=1)(img).tobytes() for _ in range(40)}
    assert len(crops) > 3   # several offsets, each a 3×3 window of the zero-padded image
    c = T.RandomCrop(3, padding=1)(img)
    assert c.shape == (2, 3, 3)
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    assert any(np.array_equal(c, padded[:, i:i + 3, j:j + 3]) for i in range(3) for j in range(3))
    t = T.Normalize([0.0], [2.0])(cr.tensor(img[0]))
    assert isinstance(t, cr.Tensor)
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(5)(img)
