"""Run under mpirun: every collective, op and dtype against closed-form expectations.

Rank r contributes x_r = (arange(6) + 1) * (r + 1) (cast to the dtype); prints `OK <check>` lines
on rank 0 and `DONE` at the end.
"""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist

DTYPES = (np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8)


def T(a):
    """A tensor holding a copy of `a` with a's own dtype (cr.tensor would make float16 float32)."""
    return cr.from_numpy(np.array(a))


def ok(name):
    if dist.get_rank() == 0:
        print("OK", name, flush=True)


def main():
    assert not dist.is_initialized()
    dist.init_process_group(backend="mpi")
    assert dist.is_initialized()
    r, w = dist.get_rank(), dist.get_world_size()
    base = np.arange(6).reshape(2, 3) + 1
    ranks = np.arange(w) + 1
    for dt in DTYPES:
        mine = (base * (r + 1)).astype(dt)
        want = {dist.ReduceOp.SUM: base * ranks.sum(), dist.ReduceOp.MAX: base * w,
                dist.ReduceOp.MIN: base * 1}
        if np.dtype(dt).kind == "f":
            want[dist.ReduceOp.AVG] = base * ranks.mean()
        for op, expected in want.items():
            t = T(mine.copy())
            assert dist.all_reduce(t, op=op) is None
            assert t.data.dtype == dt, (op, dt, t.data.dtype)
            np.testing.assert_array_equal(t.data, expected.astype(dt), err_msg=f"{op} {dt}")
            work = dist.all_reduce(t2 := T(mine.copy()), op=op, async_op=True)
            work.wait()
            np.testing.assert_array_equal(t2.data, expected.astype(dt))
        ok(f"all_reduce {np.dtype(dt).name}")
        t = T(mine.copy())
        dist.broadcast(t, src=w - 1)
        np.testing.assert_array_equal(t.data, (base * w).astype(dt))
        parts = [T(np.zeros_like(mine)) for _ in range(w)]
        dist.all_gather(parts, T(mine))
        for i, p in enumerate(parts):
            np.testing.assert_array_equal(p.data, (base * (i + 1)).astype(dt))
        out = T(np.zeros((2 * w, 3), dtype=dt))
        dist.all_gather_into_tensor(out, T(mine))
        np.testing.assert_array_equal(out.data, np.concatenate([base * (i + 1) for i in
                                                                range(w)]).astype(dt))
        # reduce_scatter: rank r sends [x_r * (k + 1) for k]; rank k gets sum_r x_r * (k + 1)
        out = T(np.zeros_like(mine))
        dist.reduce_scatter(out, [T((mine * (k + 1)).astype(dt)) for k in range(w)])
        np.testing.assert_array_equal(out.data, (base * ranks.sum() * (r + 1)).astype(dt))
        ok(f"broadcast all_gather reduce_scatter {np.dtype(dt).name}")

    # a non-contiguous tensor is reduced through a copy and written back
    t = T(np.arange(12.0).reshape(3, 4) * (r + 1)).T
    dist.all_reduce(t)
    np.testing.assert_array_equal(t.data, np.arange(12.0).reshape(3, 4).T * ranks.sum())
    # in place: the tensor keeps its own array (no copy), views of it see the result
    a = np.ones(4) * (r + 1)
    t = cr.from_numpy(a)
    dist.all_reduce(t)
    np.testing.assert_array_equal(a, np.full(4, ranks.sum()))
    ok("in place")

    # mismatched shapes / dtypes: a clear error on every rank, and the group still works after
    for bad in (np.zeros(3 + r), np.zeros(3, dtype=np.float32 if r else np.float64)):
        try:
            dist.all_reduce(T(bad))
        except ValueError as e:
            msg = str(e)
            assert "rank 0" in msg and "rank 1" in msg and "same shape" in msg, msg
        else:
            raise AssertionError("mismatched all_reduce did not raise")
    try:   # different collectives on the two ranks
        if r == 0:
            dist.all_reduce(T(np.zeros(2)))
        else:
            dist.broadcast(T(np.zeros(2)), src=0)
    except ValueError as e:
        assert "rank 0 all_reduce" in str(e) and "rank 1 broadcast" in str(e), str(e)
    else:
        raise AssertionError("all_reduce against broadcast did not raise")
    try:
        dist.all_reduce(T([1, 2]), op=dist.ReduceOp.AVG)
    except TypeError as e:
        assert "AVG" in str(e)
    else:
        raise AssertionError("AVG on integers did not raise")
    t = T([float(r)])
    dist.all_reduce(t)
    assert t.data[0] == ranks.sum() - w
    ok("mismatch errors")

    # DistributedSampler: the ranks cover the dataset exactly once per epoch (even split)
    for n, shuffle, drop_last in ((10, True, False), (11, True, False), (11, False, True)):
        s = cr.data.DistributedSampler(range(n), shuffle=shuffle, seed=5, drop_last=drop_last)
        seen_epochs = []
        for epoch in range(3):
            s.set_epoch(epoch)
            mine = T(s.indices())
            parts = [T(np.zeros(len(s), dtype=np.int64)) for _ in range(w)]
            dist.all_gather(parts, mine)
            every = np.concatenate([p.data for p in parts])
            if drop_last:
                assert len(every) == n - n % w and len(set(every.tolist())) == len(every)
            else:
                assert set(every.tolist()) == set(range(n)) and len(every) == -(-n // w) * w
            seen_epochs.append(every.tolist())
        assert not shuffle or seen_epochs[0] != seen_epochs[1], "set_epoch did not reshuffle"
    ok("sampler")

    dist.barrier()
    dist.barrier(async_op=True).wait()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    if r == 0:
        print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
