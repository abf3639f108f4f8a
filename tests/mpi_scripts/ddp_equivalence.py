"""Run under mpirun: DDP on N ranks with per-rank batch B/N == one process with batch B (float64).

Each rank also trains the single-process reference itself (full batch, no DDP) and compares.
Prints one `OK <case> <max relative difference>` line per case on rank 0.
"""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.nn.parallel import DistributedDataParallel as DDP

B, STEPS, TOL = 16, 20, 1e-12


class Shared(cr.nn.Module):
    """An MLP whose first layer is applied twice (a parameter with two gradient contributions)
    and that owns a parameter forward never uses."""

    def __init__(self):
        super().__init__()
        self.a = cr.nn.Linear(6, 6)
        self.b = cr.nn.Linear(6, 3)
        self.unused = cr.nn.Parameter(cr.zeros(2, dtype=cr.float64))

    def forward(self, x):
        return self.b(cr.tanh(self.a(cr.tanh(self.a(x)))))


def make(kind):
    cr.manual_seed(3)
    if kind == "shared":
        return Shared().double()
    return cr.nn.Sequential(cr.nn.Linear(6, 8), cr.nn.Tanh(), cr.nn.Linear(8, 8), cr.nn.ReLU(),
                            cr.nn.Linear(8, 3)).double()


def weights(model):
    return [p for n, p in model.named_parameters() if n.endswith("weight")]


def optimizer(name, params):
    return cr.optim.Adam(params, lr=1e-2) if name == "adam" else \
        cr.optim.SGD(params, lr=0.1, momentum=0.9)


def data(step):
    rng = np.random.default_rng(100 + step)   # every rank draws the same global batch
    return rng.standard_normal((B, 6)), rng.integers(0, 3, B)


def step_loss(model, x, y, scale=1.0, l2=0.0, weights=()):
    out = cr.nn.functional.cross_entropy(model(cr.tensor(x, dtype=cr.float64)), cr.tensor(y))
    if l2:   # the loss uses parameters outside forward's graph too
        out = out + l2 * sum((w * w).sum() for w in weights)
    return out * scale


def run(case, opt_name, kind="mlp", micro=1, bucket_cap_mb=25.0, control=False, l2=0.0,
        view=False, set_to_none=True):
    rank, world = dist.get_rank(), dist.get_world_size()
    ref = make(kind)
    ref_opt = optimizer(opt_name, ref.parameters())
    net = make(kind)
    with cr.no_grad():   # different start on each rank: DDP must broadcast rank 0's
        for p in net.parameters():
            p.data += rank
    ddp = DDP(net, bucket_cap_mb=bucket_cap_mb, gradient_as_bucket_view=view)
    ddp.require_backward_grad_sync = not control   # control: never average (must differ)
    opt = optimizer(opt_name, ddp.parameters())
    per = B // world
    for step in range(STEPS):
        x, y = data(step)
        ref_opt.zero_grad()
        step_loss(ref, x, y, l2=l2, weights=weights(ref)).backward()
        ref_opt.step()
        xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
        opt.zero_grad(set_to_none=set_to_none)
        m = per // micro
        for k in range(micro):   # the first micro-1 micro-batches only accumulate locally
            xb, yb = xs[k * m:(k + 1) * m], ys[k * m:(k + 1) * m]
            if k < micro - 1:
                with ddp.no_sync():
                    step_loss(ddp, xb, yb, 1.0 / micro, l2, weights(net)).backward()
            else:
                step_loss(ddp, xb, yb, 1.0 / micro, l2, weights(net)).backward()
        opt.step()
    worst = 0.0
    for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
        rel = float(np.max(np.abs(p.data - q.data)) / max(np.max(np.abs(q.data)), 1e-300))
        worst = max(worst, rel)
        if control:
            continue
        assert rel <= TOL, f"{case}: {name} differs from the single process by {rel:.3g}"
        spread = cr.tensor(p.data.copy())
        lo = cr.tensor(p.data.copy())
        dist.all_reduce(spread, op=dist.ReduceOp.MAX)
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        assert np.array_equal(spread.data, lo.data), f"{case}: ranks disagree on {name}"
    if control:
        assert worst > 1e-6, f"{case}: training without averaging matched the reference"
        if rank == 0:
            print(f"OK {case} {worst:.3g}", flush=True)
        return
    keys = list(ddp.state_dict())
    assert all(k.startswith("module.") for k in keys), keys
    if rank == 0:
        print(f"OK {case} {worst:.3g}", flush=True)


def main():
    dist.init_process_group("mpi")
    run("sgd", "sgd")
    run("sgd-no_sync", "sgd", micro=2)
    run("adam", "adam")
    run("adam-no_sync-buckets", "adam", micro=2, bucket_cap_mb=1e-4)
    run("shared-unused-buckets", "sgd", kind="shared", bucket_cap_mb=1e-4)
    run("adam-l2-no_sync-buckets", "adam", micro=2, bucket_cap_mb=1e-4, l2=1e-2)
    run("sgd-l2", "sgd", l2=1e-2)
    run("sgd-bucket_view-zero_in_place", "sgd", micro=2, view=True, set_to_none=False)
    run("adam-bucket_view", "adam", view=True, bucket_cap_mb=1e-4)
    run("control-without-averaging", "sgd", control=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
