"""cr.distributed, DistributedDataParallel and DistributedSampler: 2 ranks under mpirun, plus the
single-process parts (sampler, hooks, errors) in this process.

The MPI scripts live in tests/mpi_scripts/; each run is bounded by a timeout.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"
MPIRUN = shutil.which("mpirun")


def _have_mpi4py():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


needs_mpi = pytest.mark.skipif(
    MPIRUN is None or not _have_mpi4py(),
    reason="needs Open MPI's mpirun and mpi4py: `make install` installs Debian's openmpi-bin, "
           "libopenmpi-dev and the chainrule[distributed] extra")


def mpirun(args, n=2, timeout=120, cwd=None):
    """Run `python args...` on n ranks; returns (CompletedProcess, seconds)."""
    cmd = [MPIRUN, "-n", str(n), "--oversubscribe"]
    if os.geteuid() == 0:   # CI runs as root; Open MPI refuses that unless told
        cmd.append("--allow-run-as-root")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    proc = subprocess.run(cmd + [sys.executable, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    return proc, time.monotonic() - t0


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# ------------------------------------------------------------------------------ under mpirun

@needs_mpi
def test_collectives_every_op_and_dtype_on_two_ranks():
    out = _ok(mpirun([SCRIPTS / "collectives.py"])[0])
    for dt in ("float16", "float32", "float64", "int32", "int64", "uint8"):
        assert f"OK all_reduce {dt}" in out
        assert f"OK broadcast all_gather reduce_scatter {dt}" in out
    for check in ("OK in place", "OK mismatch errors", "OK sampler", "DONE"):
        assert check in out


@needs_mpi
def test_ddp_two_ranks_match_one_process_with_the_whole_batch():
    out = _ok(mpirun([SCRIPTS / "ddp_equivalence.py"])[0])
    lines = {ln.split()[1]: float(ln.split()[2]) for ln in out.splitlines()
             if ln.startswith("OK ")}
    for case in ("sgd", "sgd-no_sync", "adam", "adam-no_sync-buckets", "shared-unused-buckets",
                 "adam-l2-no_sync-buckets", "sgd-l2", "sgd-bucket_view-zero_in_place",
                 "adam-bucket_view"):
        assert case in lines and lines[case] <= 1e-12, (case, out)
    assert lines["control-without-averaging"] > 1e-6


@needs_mpi
def test_a_rank_that_raises_ends_the_job_naming_the_rank():
    proc, seconds = mpirun([SCRIPTS / "failing_rank.py", "raise"], timeout=60)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed: RuntimeError: simulated failure in step 3" in proc.stderr
    assert seconds < 20, f"the job took {seconds:.1f} s to stop"


@needs_mpi
def test_ranks_with_different_models_get_a_clear_error():
    proc, seconds = mpirun([SCRIPTS / "failing_rank.py", "shapes"], timeout=60)
    assert proc.returncode != 0
    assert "ranks disagree" in proc.stderr and "(5, 3)" in proc.stderr and "(4, 3)" in proc.stderr
    assert seconds < 20


@needs_mpi
def test_cli_trains_digits_on_two_ranks_and_resumes(tmp_path):
    out_dir = tmp_path / "run"
    proc, _ = mpirun(["-m", "chainrule", "train", "digits", "--distributed", "--epochs", "2",
                      "--no-progress", "--no-plots", "--out", out_dir], timeout=180, cwd=tmp_path)
    out = _ok(proc)
    assert out.count("epoch   1/2") == 1, out   # only rank 0 prints
    assert "2 ranks" in out
    ck = out_dir / "checkpoint.safetensors"
    assert sorted(p.name for p in out_dir.iterdir()) == ["checkpoint.safetensors"]
    state = cr.load(ck)
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    # the sampler deals each single-process batch out over the ranks: the same run, up to rounding
    from chainrule.train import TrainConfig, train
    single = train(TrainConfig.for_dataset("digits", epochs=2), log=None, progress=False,
                   plots=False, checkpoint=False).history
    np.testing.assert_allclose(state["history"]["loss"], single["loss"], rtol=1e-4)
    np.testing.assert_allclose(state["history"]["test_acc"], single["test_acc"], atol=3e-3)
    proc, _ = mpirun(["-m", "chainrule", "train", "--distributed", "--resume", ck, "--epochs",
                      "3", "--no-progress", "--no-plots"], timeout=180, cwd=tmp_path)
    out = _ok(proc)
    assert "epoch   3/3" in out and "epoch   2/3" not in out, out
    resumed = cr.load(ck)
    assert resumed["epoch"] == 3 and resumed["history"]["loss"][:2] == state["history"]["loss"]


# ------------------------------------------------------------------------------ one process

def test_import_chainrule_does_not_import_mpi4py():
    code = "import sys, chainrule; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.stdout.strip() == "False", out.stderr


def test_distributed_api_without_a_process_group():
    d = cr.distributed
    assert not d.is_initialized() and d.get_rank() == 0 and d.get_world_size() == 1
    with pytest.raises(RuntimeError, match="init_process_group"):
        d.all_reduce(cr.ones(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        cr.nn.parallel.DistributedDataParallel(cr.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend 'nccl'"):
        d.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="num_replicas and rank"):
        cr.data.DistributedSampler(range(4))


@pytest.mark.parametrize("n,replicas,shuffle,drop_last", [
    (10, 2, False, False), (10, 3, False, False), (11, 4, True, False), (11, 4, True, True),
    (3, 4, False, False), (7, 1, True, False)])
def test_distributed_sampler_covers_the_dataset_once_per_epoch(n, replicas, shuffle, drop_last):
    samplers = [cr.data.DistributedSampler(range(n), replicas, r, shuffle=shuffle, seed=1,
                                           drop_last=drop_last) for r in range(replicas)]
    orders = []
    for epoch in range(3):
        for s in samplers:
            s.set_epoch(epoch)
        parts = [list(s) for s in samplers]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) == len(samplers[0])
        every = [i for p in parts for i in p]
        if drop_last:   # each index at most once, n - n % replicas of them
            assert len(every) == len(set(every)) == n - n % replicas
        else:           # each index at least once; the padding repeats the fewest possible
            assert set(every) == set(range(n)) and len(every) == -(-n // replicas) * replicas
        orders.append(every)
    if shuffle and n > 2:
        assert orders[0] != orders[1]
    if not shuffle:   # round-robin over 0..n-1: rank r starts at index r
        assert [p[0] for p in parts] == [r % n for r in range(replicas)]


def test_distributed_sampler_matches_pytorch_without_shuffle():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    for n, k, drop in ((10, 3, False), (10, 3, True), (5, 4, False), (9, 2, True)):
        for r in range(k):
            ours = list(cr.data.DistributedSampler(range(n), k, r, shuffle=False, drop_last=drop))
            theirs = list(TorchSampler(range(n), k, r, shuffle=False, drop_last=drop))
            assert ours == theirs, (n, k, r, drop)
    del torch


def test_distributed_sampler_rejects_a_bad_rank():
    with pytest.raises(ValueError, match=r"invalid rank 2.*\[0, 1\]"):
        cr.data.DistributedSampler(range(4), num_replicas=2, rank=2)


def test_post_accumulate_grad_hook_sees_the_accumulated_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.data.copy()))
    (w * 3.0).sum().backward()
    (w * w).sum().backward()   # w feeds the product twice: two accumulations, two calls
    assert [s.tolist() for s in seen] == [[3.0, 3.0], [4.0, 5.0], [5.0, 7.0]]
    handle.remove()
    (w * 1.0).sum().backward()
    assert len(seen) == 3 and w.grad.data.tolist() == [6.0, 8.0]
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2.0).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="leaf"):
        cr.ones(2).register_post_accumulate_grad_hook(print)


@needs_mpi
def test_scaling_benchmark_runs_quick():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scaling_w3", "--quick", "--repeats",
                           "1", "--rounds", "1", "--steps", "2"], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| 2 ranks")]
    assert rows and "DDP" in rows[-1]
