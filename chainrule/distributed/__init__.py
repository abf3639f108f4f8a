"""cr.distributed: collectives over MPI, with torch.distributed's names (chainrule[distributed]).

Start the processes with `mpirun -n 2 python train.py` (or `-hostfile hosts` for several
machines); in each one:

>>> import chainrule.distributed as dist
>>> dist.init_process_group("mpi")            # rank and world size come from mpirun
>>> t = cr.tensor([float(dist.get_rank())])
>>> dist.all_reduce(t, op=dist.ReduceOp.SUM)  # in place: every rank now holds 0 + 1 + ...

mpi4py is imported by init_process_group only, so `import chainrule` needs nothing from MPI.
"""
from .collectives import (ReduceOp, Work, abort, all_gather, all_gather_into_tensor, all_reduce,
                          barrier, broadcast, destroy_process_group, get_rank, get_world_size,
                          init_process_group, is_available, is_initialized, launched_by_mpirun,
                          reduce_scatter)

__all__ = ["ReduceOp", "Work", "init_process_group", "destroy_process_group", "is_available",
           "is_initialized", "get_rank", "get_world_size", "barrier", "all_reduce", "broadcast",
           "all_gather", "all_gather_into_tensor", "reduce_scatter", "abort", "launched_by_mpirun"]
