"""`python -m chainrule train ... --distributed` under mpirun: train.py's run, data-parallel.

Every rank builds the same model from the seed (DDP broadcasts rank 0's anyway), reads its share
of each epoch from a DistributedSampler (per-rank batch = batch_size / world size, so the global
batch is the one of a single-process run) and averages gradients with DistributedDataParallel.
Only rank 0 prints, writes plots and writes the checkpoint (atomically); a resumed run reads the
checkpoint on rank 0 and sends its bytes to the others, so machines need no shared disk.
A rank that fails aborts the whole job with its rank named instead of leaving the others waiting.
"""
from __future__ import annotations

import io
import os
import sys
import time
from dataclasses import replace

import numpy as np

from . import collectives as C


def cmd_train_distributed(args) -> int:
    """The `train --distributed` sub-command (args as parsed by chainrule.train.add_commands)."""
    from ..train import TrainConfig
    if not C.is_initialized():
        C.init_process_group("mpi")
    try:
        if not args.resume and not args.dataset:
            raise ValueError("train: name a dataset (digits, spirals, moons, circles, blobs) "
                             "or pass --resume CHECKPOINT")
        config = None
        if not args.resume:   # the same mapping as train._cmd_train
            config = TrainConfig.for_dataset(
                args.dataset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                hidden=args.hidden, activation=args.activation, loss=args.loss,
                weight_decay=args.weight_decay, optimizer=args.optimizer, seed=args.seed,
                out=args.out)
    except ValueError:   # the same on every rank: rank 0 reports it
        if C.get_rank() != 0:
            raise SystemExit(1) from None
        raise
    try:
        r = train_distributed(config, resume=args.resume, epochs=args.epochs,
                              progress=not args.no_progress, plots=not args.no_plots)
    except FloatingPointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if r.history["loss"] or r.config.epochs == 0 else 1


def train_distributed(config=None, *, resume: str | None = None, epochs: int | None = None,
                      log=print, progress: bool = True, plots: bool = True,
                      checkpoint: bool = True):
    """train.train(), data-parallel over the ranks of mpirun; returns the TrainResult on every rank.

    >>> r = train_distributed(TrainConfig.for_dataset("digits"))   # under `mpirun -n 2 python ...`
    """
    if not C.is_initialized():
        C.init_process_group("mpi")
    try:
        return _train(config, resume, epochs, log, progress, plots, checkpoint)
    except _SameEverywhere as exc:   # every rank has it: rank 0 reports, the others just stop
        if C.get_rank() != 0:
            raise SystemExit(1) from None
        raise exc.__cause__ from None
    except BaseException as exc:
        if C.get_world_size() > 1:
            C.abort(f"{type(exc).__name__}: {exc}")
        raise


class _SameEverywhere(Exception):
    """An error every rank raised at the same point: report it, no need to abort the others."""


def _read_checkpoint(path):
    """Rank 0 reads the file; every rank gets the same bytes or the same error."""
    from ..io import load
    comm = C._need("train")
    raw, err = b"", ""
    if C.get_rank() == 0:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as e:
            err = f"train: cannot read checkpoint {path}: {e.strerror or e}"
    err = comm.bcast(err, root=0)   # a short string, not an array
    if err:
        raise _SameEverywhere(err) from FileNotFoundError(err)
    size = np.array([len(raw)], dtype=np.int64)
    comm.Bcast(size, root=0)
    buf = np.frombuffer(raw, dtype=np.uint8).copy() if C.get_rank() == 0 else \
        np.empty(int(size[0]), dtype=np.uint8)
    comm.Bcast(buf, root=0)
    try:
        return load(io.BytesIO(buf.tobytes()))
    except ValueError as e:   # the same bytes everywhere: the same error everywhere
        raise _SameEverywhere(str(e)) from e


def _train(config, resume, epochs, log, progress, plots, checkpoint):
    from .. import data as _data
    from ..io import save
    from ..nn.parallel import DistributedDataParallel
    from ..train import (TrainResult, _l2, _Progress, _weights, build, checkpoint_state,
                         config_from, loss_function, write_plots)
    rank, world = C.get_rank(), C.get_world_size()
    log = log if rank == 0 else None
    if log and world == 1 and not C.launched_by_mpirun():
        log("note: not started by mpirun, so this is one process; for N processes run "
            "`mpirun -n N python -m chainrule train ... --distributed`")
    t0 = time.perf_counter()
    state = None
    if resume is not None:
        state = _read_checkpoint(resume)
        config = config_from(state)
    elif config is None:
        from ..train import TrainConfig
        config = TrainConfig.for_dataset("digits")
    if epochs is not None:
        config = replace(config, epochs=int(epochs))
    model, opt, train_ds, test_ds = build(config)
    start, history = 0, {"loss": [], "train_acc": [], "test_acc": []}
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = int(state["epoch"]), state["history"]
    ddp = DistributedDataParallel(model)
    per_rank = max(1, config.batch_size // world)
    sampler = _data.DistributedSampler(train_ds, world, rank, shuffle=True, seed=config.seed)
    if log:
        n_params = sum(p.numel() for p in model.parameters())
        log(f"{config.dataset}: {len(train_ds)} train / {len(test_ds)} held-out samples, "
            f"{n_params} parameters, data-parallel on {world} rank{'s' * (world != 1)} "
            f"(batch {per_rank} per rank, "
            f"{per_rank * world} in all), {config.optimizer} lr {config.lr}")
    loss_fn = loss_function(config.loss)
    weights = _weights(model)
    bar = _Progress(config.epochs, start, progress, log)
    try:
        for epoch in range(start, config.epochs):
            sampler.set_epoch(epoch)
            loader = _data.DataLoader(_data.Subset(train_ds, sampler.indices()),
                                      batch_size=per_rank)
            ddp.train()
            sums = np.zeros(2)
            for xb, yb in loader:
                out = loss_fn(ddp(xb), yb)
                if config.weight_decay:
                    out = out + config.weight_decay * _l2(weights)
                opt.zero_grad()
                out.backward()
                opt.step()
                sums += (float(out.data) * len(yb), len(yb))
            mean_loss = _sum(sums)
            if not np.isfinite(mean_loss[0]):
                msg = (f"train: the training loss became {mean_loss[0]} in epoch "
                       f"{epoch + 1}; lower the learning rate")
                raise _SameEverywhere(msg) from FloatingPointError(msg)
            tr_acc, te_acc = _accuracy(model, train_ds), _accuracy(model, test_ds)
            history["loss"].append(float(mean_loss[0]))
            history["train_acc"].append(tr_acc)
            history["test_acc"].append(te_acc)
            bar.epoch(f"epoch {epoch + 1:>3}/{config.epochs}  loss {mean_loss[0]:.4f}  "
                      f"train acc {tr_acc:.4f}  held-out acc {te_acc:.4f}",
                      {"loss": f"{mean_loss[0]:.3f}", "acc": f"{tr_acc:.3f}"})
    finally:
        bar.close()
    result = TrainResult(model, opt, history, config, seconds=time.perf_counter() - t0)
    if rank == 0:   # one writer: a checkpoint is never written by two ranks at once
        out = config.out_dir()
        if checkpoint or plots:
            os.makedirs(out, exist_ok=True)
        if checkpoint:
            result.checkpoint = os.path.join(out, "checkpoint.safetensors")
            save(checkpoint_state(model, opt, config, config.epochs, history), result.checkpoint)
        if plots:
            result.plots = write_plots(result, out, log)
    C.barrier()   # the files exist before any rank returns
    if log:
        final = (f"final: train acc {history['train_acc'][-1]:.4f}, held-out acc "
                 f"{history['test_acc'][-1]:.4f}" if history["loss"] else "final: no epochs run")
        log(f"{final} ({result.seconds:.1f} s on {world} rank{'s' * (world != 1)})")
        for p in ([result.checkpoint] if result.checkpoint else []) + result.plots:
            log(f"wrote {p}")
    sys.stdout.flush()
    return result


def _sum(values) -> np.ndarray:
    """[sum of loss·n, n] over the ranks → [mean loss]."""
    from ..tensor import Tensor
    t = Tensor._make(np.asarray(values, dtype=np.float64).copy(), False)
    C.all_reduce(t)
    return t.data[:1] / max(t.data[1], 1)


def _accuracy(model, dataset) -> float:
    """Accuracy over `dataset`, each rank evaluating a contiguous share of it."""
    from .. import data as _data
    from ..train import dataset_accuracy
    rank, world = C.get_rank(), C.get_world_size()
    n = len(dataset)
    lo, hi = n * rank // world, n * (rank + 1) // world
    share = _data.Subset(dataset, np.arange(lo, hi))
    acc = dataset_accuracy(model, share) if hi > lo else 0.0
    from ..tensor import Tensor
    t = Tensor._make(np.array([acc * (hi - lo), hi - lo], dtype=np.float64), False)
    C.all_reduce(t)
    return float(t.data[0] / t.data[1]) if t.data[1] else float("nan")
