"""Run under mpirun: `failing_rank.py raise` — rank 1 raises in the middle of step 3 while rank 0
waits in the gradient all-reduce; `failing_rank.py shapes` — ranks build different models."""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.nn.parallel import DistributedDataParallel as DDP


def main(mode):
    dist.init_process_group("mpi")
    rank = dist.get_rank()
    width = 4 + (rank if mode == "shapes" else 0)
    model = DDP(cr.nn.Sequential(cr.nn.Linear(3, width), cr.nn.Tanh(), cr.nn.Linear(width, 2)))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.random.default_rng(rank).standard_normal((8, 3)), dtype=cr.float32)
    y = cr.tensor(np.arange(8) % 2)
    for step in range(1000):
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(model(x), y)
        if rank == 1 and step == 3:
            raise RuntimeError("simulated failure in step 3")
        loss.backward()
        opt.step()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
