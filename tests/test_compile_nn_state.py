"""Module state a compiled step must update or read on every call, as eager code does:
Embedding(max_norm=) rescaling the looked-up rows, and BatchNorm / InstanceNorm running statistics
(cumulative average included). Each used raw-array writes the trace never saw."""
import numpy as np
import pytest

import chainrule as cr

from helpers import training_step

pytestmark = pytest.mark.usefixtures("kernel_cache")


def _run(compiled, norm_type):
    cr.manual_seed(0)
    emb = cr.nn.Embedding(6, 3, max_norm=1.0, norm_type=norm_type)
    with cr.no_grad():
        emb.weight.mul_(3.0)
    opt = cr.optim.SGD(emb.parameters(), lr=0.1)
    f = training_step(emb, opt, lambda y: (y ** 2).sum(), compiled)
    losses = [float(f(cr.tensor(np.array([k % 6, (k + 2) % 6, (k + 2) % 6])))) for k in range(6)]
    return losses, emb.weight.numpy().copy()


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_renorm_runs_on_every_compiled_call(norm_type):
    eager, w_eager = _run(False, norm_type)
    comp, w_comp = _run(True, norm_type)
    np.testing.assert_allclose(comp, eager, rtol=1e-6)
    np.testing.assert_allclose(w_comp, w_eager, rtol=1e-6)
    # rows looked up at least once were rescaled to norm <= 1 before the lookup, so the loss
    # (sum of squares of 3 looked-up rows) stays below 3 after the first call
    assert max(eager) <= 3.0 + 1e-5 and eager[-1] < eager[0]


def test_max_norm_rescales_only_the_rows_looked_up_once_each():
    emb = cr.nn.Embedding(4, 2, max_norm=1.0)
    emb.weight.data[:] = np.array([[3, 4], [0.6, 0.8], [6, 8], [1, 1]], np.float32)
    emb(cr.tensor(np.array([0, 0, 1, 2])))
    np.testing.assert_allclose(np.linalg.norm(emb.weight.data, axis=1), [1, 1, 1, np.sqrt(2)],
                               rtol=1e-6)


def _norm_run(compiled, make, steps=5, eval_after=2):
    cr.manual_seed(0)
    m = make()
    f = training_step(m, cr.optim.SGD(m.parameters(), lr=0.1), compiled=compiled)
    rng = np.random.default_rng(0)
    losses = []
    for k in range(steps):
        if k == eval_after:
            m.eval()   # eval calls normalise with the statistics the training calls left
        x = cr.tensor(rng.standard_normal((4, 3, 5)).astype(np.float32) * (k + 1) + k)
        losses.append(float(f(x)))
    return losses, {k: v.numpy().copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("make", [
    lambda: cr.nn.BatchNorm1d(3, momentum=None),   # cumulative average: 1/(batches+1) per call
    lambda: cr.nn.BatchNorm1d(3, momentum=0.3),
    lambda: cr.nn.InstanceNorm1d(3, affine=True, track_running_stats=True),
], ids=["bn-cumulative", "bn", "instance-norm-tracked"])
def test_running_statistics_update_and_eval_equal_eager(make):
    eager, s_eager = _norm_run(False, make, steps=3, eval_after=99)
    comp, s_comp = _norm_run(True, make, steps=3, eval_after=99)
    np.testing.assert_array_equal(comp, eager)
    for k in s_eager:
        np.testing.assert_array_equal(s_comp[k], s_eager[k], err_msg=k)
    assert not np.allclose(s_eager["running_mean"], 0)   # the statistics did move
    # train calls, then eval calls (a second signature): eval reads the statistics left by training
    eager, s_eager = _norm_run(False, make)
    comp, s_comp = _norm_run(True, make)
    np.testing.assert_allclose(comp, eager, rtol=1e-6)
    for k in s_eager:
        np.testing.assert_allclose(s_comp[k], s_eager[k], rtol=1e-6, err_msg=k)


def test_cumulative_batch_norm_average_is_the_mean_of_batch_means():
    bn = cr.nn.BatchNorm1d(2, momentum=None)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((8, 2)).astype(np.float32) + i for i in range(4)]
    for x in xs:
        bn(cr.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0),
                               rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 4


@pytest.mark.parametrize("make,shape", [
    (lambda: cr.nn.Sequential(cr.nn.Conv2d(2, 3, 1), cr.nn.Dropout2d(0.5)), (2, 2, 3, 3)),
    (lambda: cr.nn.Sequential(cr.nn.Conv1d(2, 3, 1), cr.nn.Dropout1d(0.4)), (2, 2, 5)),
    (lambda: cr.nn.Sequential(cr.nn.Linear(4, 6), cr.nn.SELU(), cr.nn.AlphaDropout(0.3)), (5, 4)),
    (lambda: cr.nn.Sequential(cr.nn.Linear(4, 6), cr.nn.Dropout(0.3)), (5, 4)),
], ids=["dropout2d", "dropout1d", "alpha_dropout", "dropout"])
def test_every_dropout_draws_fresh_masks_per_compiled_call(make, shape):
    """Channel and alpha dropout drew their masks with raw NumPy, so a compiled step kept the
    first call's mask; all draws are now recorded (same generator, same numbers as eager)."""
    runs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        m = make()
        f = training_step(m, cr.optim.SGD(m.parameters(), lr=0.05), compiled=compiled)
        rng = np.random.default_rng(1)
        runs.append([float(f(cr.tensor(rng.standard_normal(shape).astype(np.float32))))
                     for _ in range(6)])
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-6)


def test_random_factories_inside_a_compiled_step_draw_fresh_numbers():
    """cr.rand / randn / randint / randperm and the *_like forms inside a step are recorded draws
    from the default generator: the same numbers as eager calls after the same seed."""
    w = cr.tensor(np.arange(6.0, dtype=np.float32) + 1, requires_grad=True)

    def fn():   # a value (detached): nothing to differentiate, so nothing to recompute
        return ((w * cr.rand(6)).sum() + (w * cr.randn_like(w)).sum() + cr.randint(0, 5, (6,)).sum()
                + w[cr.randperm(6)[:2]].sum() + (w * cr.randint_like(w, 3)).sum()
                + (w * cr.rand_like(w)).sum() + (w * cr.randn(6)).sum()).detach()

    cr.manual_seed(0)
    eager = [float(fn()) for _ in range(5)]
    cr.manual_seed(0)
    step = cr.compile(fn)
    got = [float(step()) for _ in range(5)]
    assert len(set(eager)) == 5
    np.testing.assert_allclose(got, eager, rtol=1e-6)
    assert "rng.standard_normal((6,)).astype(np.float32)" in step.source
