"""Data-parallel scaling of W3 (784→512→512→10 MLP, global batch 128, SGD) over MPI ranks.

`python -m benchmarks.scaling_w3 [--write]` starts `mpirun -n 1` (no DDP: the plain single
process) and `mpirun -n 2` (DistributedDataParallel, per-rank batch 64), every process pinned
to one BLAS/OpenMP thread, alternating the runs `--repeats` times. Per run it reports the
median wall-clock steps/s over rounds, the time per step spent blocked in the gradient
all-reduce (DDP's hooks), and a bare blocking MPI all-reduce of the gradient's size. Parallel
efficiency = speedup / ranks with the global batch fixed. `--write` puts the table into
docs/benchmarks.md (its own section, between markers; `python -m benchmarks` rewrites that file,
so run this after it).
"""
import os

# NOTE: must run before NumPy is imported: BLAS thread pools are sized at load time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- scaling_w3: begin -->", "<!-- scaling_w3: end -->"
GLOBAL_BATCH = 128


def worker(args) -> None:
    """One rank: time `rounds` × `steps` W3 training steps on this rank's share of the batch."""
    import numpy as np

    import chainrule as cr
    import chainrule.distributed as dist

    from .common import classification_setup, mlp
    from .w3_mnist_mlp import LR, setup
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    s = setup(quick=True) if args.quick else \
        classification_setup(0, args.global_batch[0], (784, 512, 512, 10))   # W3: 128
    per = len(s["X"]) // world
    model = mlp(cr.nn, s)
    net = model if args.plain else cr.nn.parallel.DistributedDataParallel(
        model, bucket_cap_mb=args.bucket_cap_mb)
    opt = cr.optim.SGD(net.parameters(), lr=LR)
    X = cr.tensor(s["X"][rank * per:(rank + 1) * per])
    y = cr.tensor(s["y"][rank * per:(rank + 1) * per])

    def step():
        loss = cr.nn.functional.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    rounds, comm, cpu = [], [], []
    for _ in range(args.rounds):
        dist.barrier()
        c0 = getattr(net, "comm_seconds", 0.0)
        p0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        t = np.array([time.perf_counter() - t0, getattr(net, "comm_seconds", 0.0) - c0,
                      time.process_time() - p0])
        tt = cr.tensor(t, dtype=cr.float64)
        dist.all_reduce(tt, op=dist.ReduceOp.MAX)   # a step is as slow as its slowest rank
        rounds.append(float(tt.data[0]) / args.steps)
        comm.append(float(tt.data[1]) / args.steps)
        cpu.append(float(tt.data[2]) / args.steps)
    n_grad = sum(p.numel() for p in model.parameters())
    flat = cr.zeros(n_grad)
    bare = []
    for _ in range(30):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(flat)
        bare.append(time.perf_counter() - t0)
    order = sorted(range(len(rounds)), key=rounds.__getitem__)
    k = order[0] if args.stat == "min" else order[len(order) // 2]   # that round's numbers
    if rank == 0:
        print(json.dumps({"ranks": world, "plain": args.plain, "ms_per_step": 1e3 * rounds[k],
                          "cpu_ms_per_step": 1e3 * cpu[k],
                          "comm_ms_per_step": 1e3 * comm[k],
                          "bare_allreduce_ms": 1e3 * statistics.median(bare),
                          "grad_mb": 4 * n_grad / 2 ** 20}), flush=True)
    dist.destroy_process_group()


def launch(n, extra, timeout=600) -> dict:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SystemExit("scaling_w3: mpirun not found; `make install` installs Open MPI")
    cmd = [mpirun, "-n", str(n), "--oversubscribe", "--bind-to", "core"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += [sys.executable, "-m", "benchmarks.scaling_w3", "--worker", *extra]
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root,
                         env=dict(os.environ, PYTHONPATH=str(root)), stdin=subprocess.DEVNULL)
    if out.returncode:
        raise SystemExit(f"scaling_w3: {' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scaling_w3", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=40, help="steps per round (default 40)")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds per run (default 7)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating runs of each configuration; the best median counts")
    ap.add_argument("--bucket-cap-mb", type=float, default=25.0)
    ap.add_argument("--global-batch", type=int, nargs="+", default=[GLOBAL_BATCH],
                    help=f"global batch size(s) (default {GLOBAL_BATCH}, W3's)")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="which round counts: the median, or the fastest (for a machine "
                         "shared with other jobs)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    lines = [
        "| run | wall ms/step | steps/s | speedup | parallel efficiency | CPU ms/step "
        "(slowest rank) | efficiency by CPU time | all-reduce ms/step (blocked in DDP hooks) "
        "| bare all-reduce of the gradient |",
        "|---|---|---|---|---|---|---|---|---|"]
    t0 = time.time()
    load_before = os.getloadavg()[0]
    effs, bounds = {}, {}
    for batch in args.global_batch:
        common = ["--steps", str(args.steps), "--rounds", str(args.rounds), "--stat", args.stat,
              "--bucket-cap-mb",
                  str(args.bucket_cap_mb), "--global-batch", str(batch)] + \
            (["--quick"] if args.quick else [])
        half = [a if a != str(batch) else str(batch // 2) for a in common]
        configs = {"one": (1, common + ["--plain"]), "two": (2, common),
                   "half": (1, half + ["--plain"]),   # one rank's compute, no communication
                   "apart": (2, common + ["--plain"])}   # 2 ranks that never communicate
        best = {}
        for _ in range(args.repeats):   # alternate, so a burst of load hits both alike
            for name, (n, extra) in configs.items():
                r = launch(n, extra)
                if name not in best or r["ms_per_step"] < best[name]["ms_per_step"]:
                    best[name] = r
        one, two = best["one"], best["two"]
        speedup = one["ms_per_step"] / two["ms_per_step"]
        effs[batch] = eff = speedup / 2
        cpu_eff = one["cpu_ms_per_step"] / two["cpu_ms_per_step"] / 2
        bound = one["ms_per_step"] / best["half"]["ms_per_step"] / 2
        bounds[batch] = (best["half"]["ms_per_step"], bound)
        lines += [
            f"| 1 rank × 1 thread, batch {batch}, no DDP | {one['ms_per_step']:.2f} | "
            f"{1e3 / one['ms_per_step']:.0f} | 1.00× | 100% | {one['cpu_ms_per_step']:.2f} | "
            f"100% | – | – |",
            f"| 2 ranks × 1 thread, batch {batch // 2} each, DDP | "
            f"{two['ms_per_step']:.2f} | {1e3 / two['ms_per_step']:.0f} | {speedup:.2f}× | "
            f"{100 * eff:.0f}% | {two['cpu_ms_per_step']:.2f} | {100 * cpu_eff:.0f}% | "
            f"{two['comm_ms_per_step']:.2f} | "
            f"{two['bare_allreduce_ms']:.2f} ms ({two['grad_mb']:.1f} MB float32) |",
            f"| control: 2 ranks, batch {batch // 2} each, no DDP (they never communicate) | "
            f"{best['apart']['ms_per_step']:.2f} | {1e3 / best['apart']['ms_per_step']:.0f} | "
            f"– | – | {best['apart']['cpu_ms_per_step']:.2f} | – | – | – |"]
        print("\n".join(lines[-3:]), flush=True)
    notes = [f"- batch {b}: one process with batch {b // 2} takes {h:.2f} ms/step, so even "
             f"free communication would give {100 * e:.0f}% efficiency (the per-step work that "
             f"does not shrink with the batch)" for b, (h, e) in bounds.items()]
    lines += [""] + notes
    print("\n".join(lines))
    if GLOBAL_BATCH in effs:
        eff = effs[GLOBAL_BATCH]
        print(f"target: parallel efficiency >= 80% on W3 (batch {GLOBAL_BATCH}): "
              f"{'met' if eff >= 0.8 else 'NOT met'} ({100 * eff:.0f}%)")
    if args.write and not args.quick:
        write_doc(lines, effs.get(GLOBAL_BATCH, 0.0), args, time.time() - t0,
                  (load_before, os.getloadavg()[0]))
    return 0


def write_doc(table, eff, args, seconds, load) -> None:
    import platform
    import numpy as np
    try:
        from mpi4py import MPI
        mpi = MPI.Get_library_version().split(",")[0].strip()
    except ImportError:
        mpi = "unknown"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = [
        BEGIN,
        "## Scaling over processes (W3, data-parallel over MPI)",
        "",
        f"Written by `python -m benchmarks.scaling_w3 --write` on {date} (took {seconds:.0f} s): "
        f"W3 (784→512→512→10 ReLU MLP, softmax CE, SGD, float32), global batch fixed "
        f"({', '.join(map(str, args.global_batch))}; W3 is {GLOBAL_BATCH}), wall-clock "
        f"{args.stat} over {args.rounds} rounds of {args.steps} "
        f"steps, best of {args.repeats} alternating runs; every process pinned to one "
        f"BLAS/OpenMP thread and bound to a core (`mpirun --bind-to core`). "
        f"Python {platform.python_version()}, NumPy {np.__version__}, {mpi}, "
        f"{os.cpu_count()} logical cores, 1-minute load average {load[0]:.1f} before and "
        f"{load[1]:.1f} after (other jobs shared the machine; a 2-rank step needs both cores "
        f"at once, so such load costs it more than the 1-rank step). "
        f"Target: parallel efficiency ≥ 80% at batch "
        f"{GLOBAL_BATCH} — {'met' if eff >= 0.8 else 'not met'} ({100 * eff:.0f}%).",
        "",
        *table,
        "",
        "The control row runs 2 ranks that never communicate: on a machine to itself it takes "
        "as long as one process with half the batch; when it takes longer, other jobs held "
        "the cores, and the 2-rank DDP row is slowed by the same amount or more (a rank "
        "waiting in the all-reduce for a peer that is not scheduled).",
        "",
        "All-reduce ms/step is the time a step spends waiting inside DDP's gradient hooks "
        "(launching buckets and waiting for the last one); the bare all-reduce is one blocking "
        "`cr.distributed.all_reduce` of a tensor the size of all gradients.",
        END,
    ]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + "\n".join(section) + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    sys.exit(main())
