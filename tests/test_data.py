"""cr.data: DataLoader batching and shuffling, random_split, generated sets, digits, validation."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import data


def _ds(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return data.TensorDataset(cr.tensor(x), cr.arange(n))


def test_loader_batches_in_order_and_last_partial():
    loader = data.DataLoader(_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert all(isinstance(t, cr.Tensor) for b in batches for t in b)
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), np.arange(10))
    np.testing.assert_array_equal(batches[1][0].data[0], [12, 13, 14])   # row 4 is 12,13,14
    assert batches[0][1].dtype == np.int64 and batches[0][0].dtype == np.float32


def test_loader_drop_last():
    loader = data.DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [b[0].shape[0] for b in loader] == [4, 4]


def test_shuffle_is_a_permutation_rows_stay_paired_and_epochs_differ():
    loader = data.DataLoader(_ds(50), batch_size=7, shuffle=True, seed=3)
    e0 = [b for b in loader]
    e1 = [b for b in loader]
    y0 = np.concatenate([b[1].data for b in e0])
    y1 = np.concatenate([b[1].data for b in e1])
    assert sorted(y0) == list(range(50)) and sorted(y1) == list(range(50))
    assert not np.array_equal(y0, np.arange(50)) and not np.array_equal(y0, y1)
    for x, y in e0:   # features still belong to their label: row i is 3i, 3i+1, 3i+2
        np.testing.assert_array_equal(x.data[:, 0], 3 * y.data)


def test_shuffle_reproducible_by_seed_by_manual_seed_and_by_set_epoch():
    def orders(loader, k=3):
        return [np.concatenate([b[1].data for b in loader]) for _ in range(k)]

    a = orders(data.DataLoader(_ds(30), batch_size=4, shuffle=True, seed=11))
    b = orders(data.DataLoader(_ds(30), batch_size=4, shuffle=True, seed=11))
    c = orders(data.DataLoader(_ds(30), batch_size=4, shuffle=True, seed=12))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    cr.manual_seed(5)
    d = orders(data.DataLoader(_ds(30), batch_size=4, shuffle=True))
    cr.manual_seed(5)
    e = orders(data.DataLoader(_ds(30), batch_size=4, shuffle=True))
    assert all(np.array_equal(u, v) for u, v in zip(d, e))
    # resuming: a fresh loader told "epoch 2" gives the third epoch's order
    fresh = data.DataLoader(_ds(30), batch_size=4, shuffle=True, seed=11)
    fresh.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in fresh]), a[2])
    st = data.DataLoader(_ds(30), batch_size=4, shuffle=True, seed=99)
    st.load_state_dict({"seed": 11, "epoch": 1})
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in st]), a[1])


class _Squares(data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, i + 0.5], dtype=np.float32), i * i


def test_generic_dataset_is_collated():
    batches = list(data.DataLoader(_Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][1].data, [4, 9])
    assert batches[1][1].dtype == np.int64
    np.testing.assert_array_equal(batches[2][0].data, [[4, 4.5]])


def test_random_split_sizes_disjoint_and_seeded():
    ds = _ds(103)
    parts = data.random_split(ds, [0.7, 0.2, 0.1], seed=0)
    assert [len(p) for p in parts] == [73, 20, 10]   # floor 72/20/10, remainder to the first
    idx = [set(p.indices.tolist()) for p in parts]
    assert not (idx[0] & idx[1]) and not (idx[0] & idx[2]) and not (idx[1] & idx[2])
    assert set().union(*idx) == set(range(103))
    again = data.random_split(ds, [0.7, 0.2, 0.1], seed=0)
    assert all(np.array_equal(p.indices, q.indices) for p, q in zip(parts, again))
    ints = data.random_split(ds, [100, 3], seed=1)
    assert [len(p) for p in ints] == [100, 3]
    # a Subset of a TensorDataset batches through the fast path and keeps rows paired
    x, y = next(iter(data.DataLoader(parts[1], batch_size=20)))
    np.testing.assert_array_equal(y.data, parts[1].indices)
    np.testing.assert_array_equal(x.data[:, 0], 3 * y.data)
    with pytest.raises(ValueError, match="sum to the dataset length 103"):
        data.random_split(ds, [50, 50])
    with pytest.raises(ValueError, match="sum to 1"):
        data.random_split(ds, [0.5, 0.2])


@pytest.mark.parametrize("fn,k", [(data.spirals, 3), (data.moons, 2), (data.circles, 2),
                                  (data.blobs, 3)])
def test_generated_sets_shape_classes_and_seed(fn, k):
    X, y = fn(n=101, seed=4)
    assert X.shape == (101, 2) and y.shape == (101,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y.data)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    X2, y2 = fn(n=101, seed=4)
    np.testing.assert_array_equal(X.data, X2.data)
    np.testing.assert_array_equal(y.data, y2.data)
    X3, _ = fn(n=101, seed=5)
    assert not np.array_equal(X.data, X3.data)
    assert np.isfinite(X.data).all()


def test_generated_sets_geometry():
    X, y = data.circles(400, noise=0.0, factor=0.3, seed=0)
    r = np.linalg.norm(X.data, axis=1)
    np.testing.assert_allclose(r[y.data == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y.data == 1], 0.3, atol=1e-6)
    X, y = data.spirals(300, classes=3, noise=0.0, seed=0)
    assert np.linalg.norm(X.data, axis=1).max() <= 1.0 + 1e-6
    X, y = data.blobs(600, classes=2, std=0.5, seed=0)
    m0, m1 = X.data[y.data == 0].mean(0), X.data[y.data == 1].mean(0)
    sd = X.data[y.data == 0].std(0)
    np.testing.assert_allclose(sd, 0.5, atol=0.08)
    assert np.linalg.norm(m0 - m1) > 1.0


def test_generated_sets_follow_manual_seed():
    cr.manual_seed(1)
    a = data.moons(50)[0].data
    cr.manual_seed(1)
    b = data.moons(50)[0].data
    np.testing.assert_array_equal(a, b)


def test_digits():
    pytest.importorskip("sklearn")
    X, y = data.digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.data.min() == 0.0 and X.data.max() == 1.0
    assert sorted(set(y.data.tolist())) == list(range(10))
    assert data.digits(flatten=False)[0].shape == (1797, 8, 8)


def test_tensordataset_validation():
    with pytest.raises(ValueError, match=r"TensorDataset: size mismatch.*tensor 1 has 9"):
        data.TensorDataset(cr.zeros(10, 2), cr.zeros(9))
    bad = np.zeros((6, 2), dtype=np.float32)
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"TensorDataset: tensor 0 .*1 NaN value.*\(4, 1\)"):
        data.TensorDataset(bad, np.arange(6))
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        data.TensorDataset(bad, np.arange(6))


class _NaNAt3(_Squares):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return (x * np.nan if i == 3 else x), y


def test_loader_rejects_nan_from_a_generic_dataset():
    it = iter(data.DataLoader(_NaNAt3(), batch_size=2))
    next(it)
    with pytest.raises(ValueError, match="DataLoader: a batch .*NaN"):
        next(it)


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        data.DataLoader(_ds(), batch_size=0)


class _NoItems(data.TensorDataset):
    def __getitem__(self, index):
        raise AssertionError("the fast path must not fetch samples one by one")


def test_tensordataset_is_batched_without_a_per_sample_loop():
    ds = _NoItems(cr.randn(100, 4), cr.arange(100))
    sub = data.random_split(ds, [60, 40], seed=0)[0]
    for d in (ds, sub):
        got = np.concatenate([y.data for _, y in data.DataLoader(d, batch_size=16, shuffle=True,
                                                                 seed=0)])
        assert sorted(got) == sorted(np.asarray(getattr(d, "indices", np.arange(100))))


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install 'chainrule\[data\]'"):
        data.digits()
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; expected one of digits"):
        data.load_dataset("mnist")
