"""Training an MLP classifier end to end: fit(), train(), checkpoints, plots and the train/eval CLI.

>>> from chainrule.train import train_digits
>>> result = train_digits(epochs=30)          # 64→100→10 MLP, ~98% held-out accuracy
>>> result.history["test_acc"][-1]
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from . import data as _data
from .autograd import no_grad
from .factories import manual_seed
from .io import load, save
from .tensor import Tensor

ACTIVATIONS = ("relu", "sigmoid", "tanh")
LOSSES = ("ce", "svm")
OPTIMIZERS = ("sgd", "adam")
MODELS = ("mlp", "cnn")   # --model: make_mlp, or make_cnn for the 8×8 digits images
CNN_DEFAULTS = dict(epochs=20, lr=0.003)   # --model cnn on digits: ~99% held-out in ~15 s

# Per-dataset defaults, chosen so that each trains in seconds on a laptop core.
DEFAULTS = {
    "digits": dict(epochs=30, lr=0.005, batch_size=64),
    "spirals": dict(epochs=150, lr=0.01, batch_size=32),
    "moons": dict(epochs=60, lr=0.01, batch_size=32),
    "circles": dict(epochs=60, lr=0.01, batch_size=32),
    "blobs": dict(epochs=30, lr=0.01, batch_size=32),
    "xor": dict(epochs=60, lr=0.01, batch_size=32),
}


@dataclass
class TrainConfig:
    """Everything that defines a run; saved in the checkpoint so `eval` can rebuild it."""
    dataset: str = "digits"
    epochs: int = 30
    lr: float = 0.005
    batch_size: int = 64
    hidden: list = field(default_factory=lambda: [100])
    activation: str = "relu"
    loss: str = "ce"
    weight_decay: float = 1e-4   # λ of the L2 penalty λ·ΣW² over the weight matrices
    optimizer: str = "adam"
    momentum: float = 0.9        # SGD only
    seed: int = 0
    test_size: float = 0.2
    out: str = ""                # "" means runs/<dataset>
    model: str = "mlp"           # one of MODELS

    @classmethod
    def for_dataset(cls, dataset: str, **overrides) -> "TrainConfig":
        """The defaults for `dataset`, with overrides (None values are ignored)."""
        if dataset not in _data.DATASETS:
            raise ValueError(f"train: unknown dataset {dataset!r}; expected one of "
                             f"{', '.join(_data.DATASETS)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        kw = {**DEFAULTS[dataset], **(CNN_DEFAULTS if given.get("model") == "cnn" else {}), **given}
        if "lr" not in given and kw.get("optimizer") == "sgd":
            kw["lr"] = 10 * kw["lr"]   # the defaults are Adam's; SGD+momentum wants ~10× more
        return cls(dataset=dataset, **kw).validated()

    def validated(self) -> "TrainConfig":
        for name, allowed in (("activation", ACTIVATIONS), ("loss", LOSSES),
                              ("optimizer", OPTIMIZERS), ("model", MODELS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"train: --{name} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        if isinstance(self.hidden, int):
            self.hidden = [self.hidden]
        self.hidden = [int(h) for h in self.hidden]
        if (self.epochs < 0 or self.batch_size < 1 or self.lr <= 0
                or any(h < 1 for h in self.hidden)):
            raise ValueError(f"train: need epochs >= 0, batch_size >= 1, lr > 0 and hidden sizes "
                             f">= 1; got epochs={self.epochs}, batch_size={self.batch_size}, "
                             f"lr={self.lr}, hidden={self.hidden}")
        if self.model == "cnn" and self.dataset != "digits":
            raise ValueError(f"train: --model cnn needs an image dataset (digits), got {self.dataset!r}")
        if not 0 < self.test_size < 1:
            raise ValueError(f"train: test_size must be in (0, 1), got {self.test_size}")
        return self

    def out_dir(self) -> str:
        return self.out or os.path.join("runs", self.dataset)


@dataclass
class TrainResult:
    """What train() returns: the model, optimizer, per-epoch history and where files went."""
    model: object
    optimizer: object
    history: dict
    config: TrainConfig
    checkpoint: str | None = None
    plots: list = field(default_factory=list)
    seconds: float = 0.0
    monitor: object = None       # the cr.viz.Monitor when train(monitor=...) was asked


# ------------------------------------------------------------------------------- building blocks

def make_mlp(in_features: int, num_classes: int, hidden=(100,), activation: str = "relu"):
    """Linear → act → ... → Linear (logits), e.g. make_mlp(64, 10, [100]) is 64→100→10.

    >>> make_mlp(2, 3, [16, 16], "tanh")
    """
    from . import nn
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    if activation not in acts:
        raise ValueError(f"make_mlp: activation must be one of {', '.join(acts)}, got "
                         f"{activation!r}")
    layers, width = [], int(in_features)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), acts[activation]()]
        width = int(h)
    layers.append(nn.Linear(width, int(num_classes)))
    return nn.Sequential(*layers)


def make_cnn(num_classes: int = 10, side: int = 8, channels=(16, 32)):
    """Flat (N, side²) images → conv3×3 → ReLU → conv3×3 → ReLU → max-pool 2 → Linear (logits).

    >>> make_cnn(10)(cr.randn(5, 64)).shape
    (5, 10)
    """
    from . import nn

    class Image(nn.Module):
        """(N, side²) rows as (N, 1, side, side) images."""

        def forward(self, x):
            return x.reshape(x.shape[0], 1, side, side)

    c1, c2 = channels
    return nn.Sequential(Image(), nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(c2 * (side // 2) ** 2, num_classes))


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9):
    """cr.optim.Adam(params, lr) or cr.optim.SGD(params, lr, momentum)."""
    from . import optim
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum)
    raise ValueError(f"make_optimizer: optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                     f"{name!r}")


def loss_function(name: str):
    """'ce' → cross_entropy (softmax), 'svm' → multi_margin_loss (the multiclass SVM hinge)."""
    from .nn import functional as F
    if name == "ce":
        return F.cross_entropy
    if name == "svm":
        return F.multi_margin_loss
    raise ValueError(f"loss_function: loss must be one of {', '.join(LOSSES)}, got {name!r}")


def _weights(model) -> list:
    # L2 regularises the weight matrices only, not biases (as in the lecture's R(W)).
    return [p for n, p in model.named_parameters() if n.endswith("weight")]


def _as_dataset(d):
    if isinstance(d, _data.Dataset):
        return d
    if isinstance(d, (tuple, list)) and len(d) == 2:
        return _data.TensorDataset(*d)
    raise TypeError(f"fit: data must be a Dataset or an (X, y) pair, got {type(d).__name__}")


def dataset_accuracy(model, dataset, batch_size: int = 4096) -> float:
    """accuracy() over any Dataset of (x, y) items, batch by batch."""
    if len(dataset) == 0:
        return float("nan")
    was_training = getattr(model, "training", False)
    model.eval()
    correct = 0
    with no_grad():
        for xb, yb in _data.DataLoader(dataset, batch_size=batch_size):
            correct += int((model(xb).data.argmax(axis=-1) == yb.data).sum())
    model.train(was_training)
    return correct / len(dataset)


def accuracy(model, X, y, batch_size: int = 4096) -> float:
    """Fraction of rows of X whose argmax logit is the label y (evaluated without a graph).

    >>> accuracy(model, X_test, y_test)
    0.978
    """
    return dataset_accuracy(model, _data.TensorDataset(X, y), batch_size)


def predict(model, X) -> np.ndarray:
    """Class predictions (argmax of logits) as an int64 array."""
    was_training = getattr(model, "training", False)
    model.eval()
    with no_grad():
        logits = model(X if isinstance(X, Tensor) else Tensor._make(np.asarray(X), False))
    model.train(was_training)
    return logits.data.argmax(axis=-1)


# ------------------------------------------------------------------------------- the loop

def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")   # never imported here: only if the user runs it
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") \
        else None
    return type(shell).__name__ == "ZMQInteractiveShell"   # Jupyter's kernel shell


def progress_kind() -> str | None:
    """Which progress bar fits where we run: "notebook" (tqdm.auto's widget) in Jupyter,
    "terminal" (tqdm's text bar) when stderr is a TTY, None in logs and pipes (where a bar
    would print a line per refresh)."""
    if _in_notebook():
        return "notebook"
    return "terminal" if sys.stderr.isatty() else None


def make_progress_bar(total, initial=0, unit="epoch"):
    """A tqdm bar of the progress_kind(), or None (no place for one, or tqdm not installed)."""
    kind = progress_kind()
    if kind is None:
        return None
    try:
        if kind == "notebook":
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
    except ImportError:
        return None
    if kind == "notebook":   # the widget stays under the cell when done
        return tqdm(total=total, initial=initial, unit=unit, leave=True)
    return tqdm(total=total, initial=initial, unit=unit, leave=False, file=sys.stderr)


class _Progress:
    """A tqdm bar over epochs when tqdm is installed (and asked for), else plain lines."""

    def __init__(self, total, initial, enabled, log):
        self.bar, self.log = None, log
        if enabled and log and total > initial:
            self.bar = make_progress_bar(total, initial)

    def epoch(self, line, postfix):
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
            if self.log is print:   # print through tqdm so the bar is not torn apart
                self.bar.write(line, file=sys.stdout)
            elif self.log:
                self.log(line)
        elif self.log:
            self.log(line)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def fit(model, train_data, *, epochs: int, optimizer=None, lr: float = 0.005, loss: str = "ce",
        weight_decay: float = 0.0, batch_size: int = 64, test_data=None, seed: int = 0,
        start_epoch: int = 0, history: dict | None = None, log=print, progress: bool = True,
        on_epoch=None, on_step=None, compile: bool = False) -> dict:  # noqa: A002
    """Minibatch training of a classifier: loss(model(x), y) + weight_decay·ΣW², one step per batch.

    train_data/test_data: Datasets or (X, y) pairs (X float features, y int64 labels). Shuffling
    is a fixed function of (seed, epoch), so training resumed at `start_epoch` from a checkpoint
    continues exactly as if it had not stopped. Returns the history dict of per-epoch lists:
    loss (mean of data loss + λ·R(W) over the epoch's batches), train_acc and test_acc.
    `on_epoch(epoch, history)` runs after each epoch, `on_step(loss)` after each optimizer step
    (e.g. a cr.viz.monitor(model)). compile=True runs each batch's step (forward, backward, update) as code generated by `cr.compile` (same numbers; a
    non-finite loss is then reported after that batch's update instead of before it).

    >>> hist = fit(model, (X, y), epochs=10, optimizer=cr.optim.Adam(model.parameters(), lr=1e-2))
    """
    train_ds = _as_dataset(train_data)
    test_ds = None if test_data is None else _as_dataset(test_data)
    loss_fn = loss_function(loss) if isinstance(loss, str) else loss
    if optimizer is None:
        optimizer = make_optimizer("adam", model.parameters(), lr)
    loader = _data.DataLoader(train_ds, batch_size=batch_size, shuffle=True, seed=seed)
    loader.set_epoch(start_epoch)
    weights = _weights(model)
    history = history if history is not None else {"loss": [], "train_acc": [], "test_acc": []}
    bar = _Progress(epochs, start_epoch, progress, log)
    fast = None
    if compile:
        from .compile import compile as _compile

        def batch_step(xb, yb):
            out = loss_fn(model(xb), yb)
            if weight_decay:
                out = out + weight_decay * _l2(weights)
            optimizer.zero_grad()
            out.backward()
            optimizer.step()
            return out
        fast = _compile(batch_step)
    try:
        for epoch in range(start_epoch, epochs):
            model.train()
            total, count = 0.0, 0
            for step, (xb, yb) in enumerate(loader):
                if fast is not None:
                    out = fast(xb, yb)
                    value = float(out.data)
                    if not np.isfinite(value):
                        raise FloatingPointError(f"fit: the training loss became {value} in "
                                                 f"epoch {epoch + 1}, batch {step + 1}; lower "
                                                 f"the learning rate")
                    if on_step is not None:
                        on_step(out)
                    total += value * len(yb)
                    count += len(yb)
                    continue
                out = loss_fn(model(xb), yb)
                if weight_decay:
                    out = out + weight_decay * _l2(weights)
                value = float(out.data)
                if not np.isfinite(value):   # stop before the optimizer spreads it everywhere
                    raise FloatingPointError(f"fit: the training loss became {value} in epoch "
                                             f"{epoch + 1}, batch {step + 1}; lower the "
                                             f"learning rate")
                optimizer.zero_grad()
                out.backward()
                optimizer.step()
                if on_step is not None:
                    on_step(out)
                total += value * len(yb)
                count += len(yb)
            mean_loss = total / max(count, 1)
            tr_acc = dataset_accuracy(model, train_ds)
            te_acc = dataset_accuracy(model, test_ds) if test_ds is not None else float("nan")
            history["loss"].append(mean_loss)
            history["train_acc"].append(tr_acc)
            history["test_acc"].append(te_acc)
            line = (f"epoch {epoch + 1:>3}/{epochs}  loss {mean_loss:.4f}  "
                    f"train acc {tr_acc:.4f}")
            if test_ds is not None:
                line += f"  held-out acc {te_acc:.4f}"
            bar.epoch(line, {"loss": f"{mean_loss:.3f}", "acc": f"{tr_acc:.3f}"})
            if on_epoch is not None:
                on_epoch(epoch + 1, history)
    finally:
        bar.close()
    return history


def _l2(weights):
    from .nn import functional as F
    return F.l2_penalty(weights)


# ------------------------------------------------------------------------------- runs

def _split(config: TrainConfig):
    X, y = _data.load_dataset(config.dataset, seed=config.seed)
    ds = _data.TensorDataset(X, y)
    train_ds, test_ds = _data.random_split(ds, [1 - config.test_size, config.test_size],
                                           seed=config.seed)
    return ds, train_ds, test_ds, int(y.data.max()) + 1


def build(config: TrainConfig, split=None):
    """(model, optimizer, train_ds, test_ds) for a config, initialised from config.seed."""
    ds, train_ds, test_ds, classes = split if split is not None else _split(config)
    manual_seed(config.seed)   # parameter init comes from the seeded generator
    if config.model == "cnn":
        model = make_cnn(classes, int(round(ds.tensors[0].shape[1] ** 0.5)))
    else:
        model = make_mlp(ds.tensors[0].shape[1], classes, config.hidden, config.activation)
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.momentum)
    return model, opt, train_ds, test_ds


def checkpoint_state(model, optimizer, config: TrainConfig, epoch: int, history: dict) -> dict:
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "config": asdict(config), "epoch": epoch, "history": history}


def config_from(state: dict) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    saved = state.get("config", {})
    if not isinstance(saved, dict):
        raise ValueError(f"checkpoint config must be a dict, got {type(saved).__name__}")
    try:
        return TrainConfig(**{k: v for k, v in saved.items() if k in names}).validated()
    except TypeError as e:   # a value of the wrong type, e.g. lr "fast"
        raise ValueError(f"checkpoint config is invalid ({e})") from None


def read_checkpoint(path: str):
    """Load a checkpoint written by `train` and check it hangs together before anything is built:
    (state, config, epoch, history, split). The config's model must have exactly the shapes of the
    saved tensors (a config claiming hidden=[20000, 20000] is refused, not allocated)."""
    state = load(path)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path} is not a training checkpoint (expected keys 'model' and "
                         f"'config', as written by `python -m chainrule train`)")
    config = config_from(state)
    epoch = state.get("epoch", 0)
    if type(epoch) is not int or epoch < 0:
        raise ValueError(f"{path}: checkpoint epoch {epoch!r} is not a non-negative int")
    history = state.get("history")
    if history is not None and not (isinstance(history, dict) and all(
            isinstance(history.get(k), list) and len(history[k]) == epoch
            for k in ("loss", "train_acc", "test_acc"))):
        raise ValueError(f"{path}: checkpoint history must hold lists loss, train_acc and "
                         f"test_acc of {epoch} epochs each")
    split = _split(config)
    _check_model_shapes(path, config, state["model"], split[0].tensors[0].shape[1], split[3])
    return state, config, epoch, history, split


def _check_model_shapes(path, config, saved, in_features, classes):
    """The state dict make_mlp(config) would have, compared with the saved tensors' shapes."""
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: checkpoint 'model' must be a state dict")
    want = {}
    if getattr(config, "model", "mlp") == "cnn":   # fixed channels: its size is not the config's
        cnn = make_cnn(classes, int(round(in_features ** 0.5)))
        want = {k: tuple(v.shape) for k, v in cnn.state_dict().items()}
    else:
        widths = [in_features, *config.hidden, classes]
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            want[f"{2 * i}.weight"], want[f"{2 * i}.bias"] = (b, a), (b,)
    have = {k: tuple(np.shape(v.data if isinstance(v, Tensor) else v)) for k, v in saved.items()}
    if have != want:
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))[:3]
        shown = ", ".join(f"{k}: config {want.get(k)}, file {have.get(k)}" for k in diff)
        raise ValueError(f"{path}: the checkpoint's config (hidden={config.hidden}) does not "
                         f"match its tensors ({shown}); nothing was built")


def train(config: TrainConfig | None = None, *, resume: str | None = None,
          epochs: int | None = None, log=print, progress: bool = True, plots: bool | None = None,
          checkpoint: bool | None = None, monitor=None, compile: bool = False,
          **overrides) -> TrainResult:  # noqa: A002
    """Train the configured MLP; a TrainResult.

    Files are written only where told: plots and a checkpoint go to config.out when it is set
    (plots=/checkpoint= True also write to runs/<dataset> without it; False never writes).
    `resume` = a checkpoint path: continue that run (same data split and shuffle order) up to
    `epochs` total epochs; files go to `out=` if given, else next to the checkpoint.
    `monitor=True` (or a cr.viz.Monitor) records the training's health
    each step; its report is logged and, when plots are written, monitor.png.

    >>> r = train(TrainConfig.for_dataset("moons", epochs=20, out="runs/moons"))
    """
    t0 = time.perf_counter()
    state = split = None
    start, history = 0, None
    if resume is not None:
        state, config, start, history, split = read_checkpoint(resume)
        config = _resumed_config(resume, config, start, epochs, overrides)
        overrides = {}
    elif config is None:
        config = TrainConfig.for_dataset(overrides.pop("dataset", "digits"), **overrides)
        overrides = {}
    if overrides:
        config = replace(config, **overrides).validated()
    if epochs is not None and resume is None:
        config = replace(config, epochs=int(epochs))
    model, opt, train_ds, test_ds = build(config, split)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if start == config.epochs:
            if log:
                log(f"nothing to do: {resume} already holds {start} epochs (pass --epochs N "
                    f"with N > {start} to train further)")
            return TrainResult(model, opt, history, config, seconds=time.perf_counter() - t0)
    if log:
        n_params = sum(p.numel() for p in model.parameters())
        arch = (f"MLP {'→'.join(str(s) for s in [train_ds.tensors[0].shape[1], *config.hidden])}"
                f"→{int(train_ds.dataset.tensors[1].data.max()) + 1} ({n_params} parameters), "
                f"{config.activation}" if config.model == "mlp" else
                f"CNN conv3×3 16 → ReLU → conv3×3 32 → ReLU → max-pool 2 → fc ({n_params} parameters)")
        log(f"{config.dataset}: {len(train_ds)} train / {len(test_ds)} held-out samples, {arch}, "
            f"loss {config.loss}, {config.optimizer} lr {config.lr}, λ {config.weight_decay}")
    if monitor is True:
        from .viz.monitor import Monitor
        monitor = Monitor(model, loss="svm" if config.loss == "svm" else "softmax")
    history = fit(model, train_ds, epochs=config.epochs, optimizer=opt, loss=config.loss,
                  weight_decay=config.weight_decay, batch_size=config.batch_size,
                  test_data=test_ds, seed=config.seed, start_epoch=start, history=history,
                  log=log, progress=progress, on_step=monitor or None, compile=compile)
    result = TrainResult(model, opt, history, config, seconds=time.perf_counter() - t0)
    plots = bool(config.out) if plots is None else plots
    checkpoint = bool(config.out) if checkpoint is None else checkpoint
    _write_outputs(result, config.out_dir(), checkpoint, plots and bool(history["loss"]), monitor,
                   log)
    return result


def _resumed_config(path, config, start, epochs, overrides) -> TrainConfig:
    """The saved config with what a resume may change: the epoch target and the output folder
    (the caller's `out`, else the checkpoint's own folder: never a folder named inside the file)."""
    out = overrides.pop("out", None) or os.path.dirname(path) or "."
    if overrides:
        raise ValueError(f"train: a resumed run continues its saved config; cannot change "
                         f"{', '.join(sorted(overrides))} (start a new run instead)")
    epochs = config.epochs if epochs is None else int(epochs)
    if epochs < start:
        raise ValueError(f"train --resume: {path} already holds {start} epochs; --epochs "
                         f"{epochs} would not continue it (pass --epochs N with N > {start}, or "
                         f"start a new run with --out)")
    return replace(config, epochs=epochs, out=out)


def _write_outputs(result: TrainResult, out: str, checkpoint: bool, plots: bool, monitor,
                   log) -> None:
    """The checkpoint and (unless no epoch ran: an empty plot says nothing) the PNG plots."""
    if checkpoint or plots:
        os.makedirs(out, exist_ok=True)
    if checkpoint:
        result.checkpoint = os.path.join(out, "checkpoint.safetensors")
        save(checkpoint_state(result.model, result.optimizer, result.config, result.config.epochs,
                              result.history), result.checkpoint)
    if plots:
        result.plots = write_plots(result, out, log)
    if monitor:
        result.monitor = monitor
        if log:
            log(monitor.report())
        if plots and result.plots:   # matplotlib is there
            result.plots.append(monitor.plot(os.path.join(out, "monitor.png")))
    if log:
        h = result.history
        final = (f"final: train acc {h['train_acc'][-1]:.4f}, held-out acc "
                 f"{h['test_acc'][-1]:.4f}" if h["loss"] else "final: no epochs run")
        log(f"{final} ({result.seconds:.1f} s)")
        for p in ([result.checkpoint] if result.checkpoint else []) + result.plots:
            log(f"wrote {p}")


def train_digits(epochs: int = 30, hidden=(100,), activation: str = "relu", loss: str = "ce",
                 **kw) -> TrainResult:
    """Train the 64→100→10 digits MLP (softmax cross-entropy or SVM loss, L2); see train().

    >>> r = train_digits(epochs=30); r.history["test_acc"][-1] >= 0.97
    True
    """
    opts = {k: kw.pop(k) for k in [f.name for f in fields(TrainConfig)] if k in kw}
    config = TrainConfig.for_dataset("digits", epochs=epochs, hidden=list(hidden),
                                     activation=activation, loss=loss, **opts)
    return train(config, **kw)


def evaluate(path: str) -> dict:
    """Reload a checkpoint, rebuild its data split and model, and return train/held-out accuracy."""
    state, config, epoch, _, split = read_checkpoint(path)
    model, _, train_ds, test_ds = build(config, split)
    model.load_state_dict(state["model"])
    return {"config": config, "epoch": epoch,
            "train_acc": dataset_accuracy(model, train_ds),
            "test_acc": dataset_accuracy(model, test_ds), "model": model, "test": test_ds}


# ------------------------------------------------------------------------------- plots

def _figure(size):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure(figsize=size, dpi=100)   # no pyplot: no GUI backend, no global state


def write_plots(result: TrainResult, out: str, log=print) -> list:
    """Loss/accuracy curves (and a decision boundary for 2-D data) as PNGs; returns the paths."""
    fig = _figure((9, 3.5))
    if fig is None:
        if log:
            log("note: plots skipped, matplotlib is missing: pip install 'chainrule[viz]'")
        return []
    h = result.history
    ep = np.arange(1, len(h["loss"]) + 1)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(ep, h["loss"], color="C0")
    ax1.set(xlabel="epoch", ylabel="training loss", title=f"{result.config.dataset}: loss")
    ax2.plot(ep, h["train_acc"], label="train", color="C0")
    ax2.plot(ep, h["test_acc"], label="held-out", color="C1")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax2.legend(loc="lower right")
    for ax in (ax1, ax2):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    paths = [os.path.join(out, "training.png")]
    fig.savefig(paths[0])
    X = _data_2d(result)
    if X is not None:
        paths.append(os.path.join(out, "decision_boundary.png"))
        plot_decision_boundary(result.model, *X, paths[-1])
    return paths


def _data_2d(result):
    X, y = _data.load_dataset(result.config.dataset, seed=result.config.seed)
    return (X, y) if X.shape[1] == 2 else None


def plot_decision_boundary(model, X, y, path: str, steps: int = 300) -> str:
    """Colour the plane by the model's predicted class and scatter the points over it (PNG)."""
    fig = _figure((5, 5))
    if fig is None:
        raise ImportError("plot_decision_boundary needs matplotlib: pip install 'chainrule[viz]'")
    xd, yd = np.asarray(X.data if isinstance(X, Tensor) else X), np.asarray(
        y.data if isinstance(y, Tensor) else y)
    lo, hi = xd.min(0), xd.max(0)
    pad = 0.1 * (hi - lo)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(xd.dtype)
    z = predict(model, grid).reshape(gx.shape)
    k = int(max(yd.max(), z.max())) + 1
    ax = fig.subplots()
    ax.contourf(gx, gy, z, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
    ax.scatter(xd[:, 0], xd[:, 1], c=yd, cmap="tab10", vmin=0, vmax=9, s=10, edgecolors="k",
               linewidths=0.3)
    ax.set(title="decision boundary", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path)
    return path


# ------------------------------------------------------------------------------- CLI

def add_commands(subparsers) -> None:
    """`train` and `eval` sub-commands for `python -m chainrule`."""
    p = subparsers.add_parser("train", help="train an MLP classifier on a built-in dataset",
                              description="Train an MLP (e.g. 64→100→10 on digits), print "
                                          "per-epoch loss and accuracy, write plots and a "
                                          "checkpoint.")
    p.add_argument("dataset", nargs="?", choices=list(_data.DATASETS),
                   help="built-in dataset (not needed with --resume)")
    def per_dataset(key):   # the help quotes DEFAULTS itself, so it cannot drift from them
        return ", ".join(f"{name} {d[key]}" for name, d in DEFAULTS.items())

    p.add_argument("--epochs", type=int, help=f"default: {per_dataset('epochs')}")
    p.add_argument("--lr", type=float, help=f"learning rate; default with adam: "
                                            f"{per_dataset('lr')}; with sgd 10× that")
    p.add_argument("--batch-size", type=int, help=f"default: {per_dataset('batch_size')}")
    p.add_argument("--model", choices=MODELS, help="mlp (default) or cnn (digits only: "
                                                  "conv → conv → pool → fc)")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden layer sizes (default 100)")
    p.add_argument("--activation", choices=ACTIVATIONS, help="default relu")
    p.add_argument("--loss", choices=LOSSES,
                   help="ce: softmax cross-entropy, svm: multiclass hinge")
    p.add_argument("--weight-decay", type=float, help="λ of the L2 penalty λ·ΣW² (default 1e-4)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="default adam; sgd uses momentum 0.9")
    p.add_argument("--seed", type=int, help="seeds the split, init and shuffling (default 0)")
    p.add_argument("--out", help="output folder (default runs/<dataset>)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue that run (same config, split and shuffling) up to --epochs "
                        "epochs in total")
    p.add_argument("--no-progress", action="store_true", help="plain lines, no progress bar")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    p.add_argument("--monitor", action="store_true",
                   help="babysit the training: print update/parameter ratios, gradient and "
                        "activation statistics, dead ReLUs and first loss vs chance; write "
                        "monitor.png")
    p.add_argument("--compile", action="store_true",
                   help="run each training step as code generated by cr.compile (same numbers)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of `mpirun -n N` (needs "
                        "chainrule[distributed]); --batch-size stays the global batch")
    p.set_defaults(func=_cmd_train)
    e = subparsers.add_parser("eval", help="evaluate a checkpoint written by `train`",
                              description="Reload a checkpoint written by `train`, rebuild its "
                                          "data split and print train and held-out accuracy.")
    e.add_argument("checkpoint", help="e.g. runs/digits/checkpoint.safetensors")
    e.set_defaults(func=_cmd_eval)


def _cmd_train(args) -> int:
    if getattr(args, "distributed", False):   # all of it lives in chainrule.distributed
        from .distributed.training import cmd_train_distributed
        return cmd_train_distributed(args)
    try:
        if not args.resume and not args.dataset:
            raise ValueError("train: name a dataset (digits, spirals, moons, circles, blobs) "
                             "or pass --resume CHECKPOINT")
        if args.resume:
            _warn_unused_resume_flags(args)
            r = train(resume=args.resume, epochs=args.epochs, out=args.out,
                      progress=not args.no_progress, plots=not args.no_plots, checkpoint=True,
                      monitor=args.monitor,
                      compile=args.compile)
        else:
            config = TrainConfig.for_dataset(
                args.dataset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                hidden=args.hidden, activation=args.activation, loss=args.loss,
                weight_decay=args.weight_decay, optimizer=args.optimizer, seed=args.seed,
                out=args.out, model=args.model)
            r = train(config, progress=not args.no_progress, plots=not args.no_plots,
                      checkpoint=True, monitor=args.monitor,
                      compile=args.compile)
    except (IndexError, TypeError, FloatingPointError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if r.history["loss"] or r.config.epochs == 0 else 1


# flags that define a run: a resumed run keeps its saved values, so giving one is a mistake
_RUN_FLAGS = ("dataset", "lr", "batch_size", "hidden", "activation", "loss", "weight_decay",
              "optimizer", "seed")


def _warn_unused_resume_flags(args) -> None:
    given = [f for f in _RUN_FLAGS if getattr(args, f, None) is not None]
    if given:
        flags = ", ".join("DATASET" if f == "dataset" else "--" + f.replace("_", "-")
                          for f in given)
        print(f"warning: --resume continues the saved run with its own settings; ignoring "
              f"{flags} (start a new run to change them)", file=sys.stderr)


def _cmd_eval(args) -> int:
    try:
        r = evaluate(args.checkpoint)
    except (IndexError, TypeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    c = r["config"]
    arch = "cnn" if c.model == "cnn" else f"hidden {c.hidden}, {c.activation}"
    print(f"{args.checkpoint}: {c.dataset}, epoch {r['epoch']}, {arch}, loss {c.loss}")
    print(f"train accuracy {r['train_acc']:.4f}")
    print(f"held-out accuracy {r['test_acc']:.4f}")
    return 0
