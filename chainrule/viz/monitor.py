"""Babysitting the training (the lecture notes' advice, as a tool): cr.viz.monitor(model).

Call the monitor once per step, after optimizer.step(); it records per layer the update/parameter
ratio ‖Δθ‖/‖θ‖ (the notes: about 1e-3; much lower, the learning rate is too low; much higher, too
high), gradient norms, activation mean/std, the fraction of dead ReLUs (units that are zero for
every example of the batch) and saturated tanh/sigmoid units, and the first loss against chance
(ln C for softmax). Activations are seen through forward hooks on the activation modules.

>>> mon = cr.viz.monitor(model)
>>> for xb, yb in loader:
...     loss = F.cross_entropy(model(xb), yb)
...     opt.zero_grad(); loss.backward(); opt.step()
...     mon(loss)
>>> print(mon.report()); mon.plot("monitor.png")
"""
from __future__ import annotations

import math

import numpy as np

RATIO_LOW, RATIO_HIGH = 1e-4, 1e-2     # a decade around the notes' ~1e-3 each way, then flag


def _arr(t):
    return np.asarray(getattr(t, "data", t), dtype=np.float64)


class Monitor:
    """Per-step statistics of a model's training; see the module docstring.

    loss: "softmax" (chance ln C) or "svm" (chance (C−1)·margin/C, PyTorch's multi_margin_loss);
    num_classes: C (default: out_features of the model's last Linear).
    history: {"loss": [...], "ratio": {layer: [...]}, "grad_norm": {layer: [...]},
              "act_mean"/"act_std"/"dead"/"saturated": {activation module: [...]}}
    """

    def __init__(self, model, loss: str = "softmax", num_classes: int | None = None):
        from .. import nn
        if loss not in ("softmax", "svm", "ce"):
            raise ValueError(f"monitor: loss must be 'softmax' or 'svm', got {loss!r}")
        self.model, self.loss_kind = model, "svm" if loss == "svm" else "softmax"
        self.params = [(n, p) for n, p in model.named_parameters() if n.endswith("weight")]
        if num_classes is None:
            last = [m for m in model.modules() if isinstance(m, nn.Linear)]
            num_classes = last[-1].out_features if last else None
        self.num_classes = num_classes
        self._prev = None
        self._acts: dict = {}
        self.history = {"loss": [], "ratio": {}, "grad_norm": {}, "act_mean": {}, "act_std": {},
                        "dead": {}, "saturated": {}}
        kinds = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Maxout, nn.GELU)
        self._handles = [m.register_forward_hook(self._hook(name or type(m).__name__))
                         for name, m in model.named_modules() if isinstance(m, kinds)]

    def _hook(self, name):
        def hook(module, inputs, output):
            a = _arr(output)
            units = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
            stats = {"mean": float(a.mean()), "std": float(a.std())}
            kind = type(module).__name__
            if kind == "ReLU":
                stats["dead"] = float(np.mean(np.all(units <= 0, axis=0)))
            elif kind == "Tanh":
                stats["saturated"] = float(np.mean(np.abs(a) > 0.99))
            elif kind == "Sigmoid":
                stats["saturated"] = float(np.mean((a < 0.01) | (a > 0.99)))
            self._acts[f"{name} ({kind})"] = stats
        return hook

    @property
    def chance(self) -> float | None:
        """The loss of a network whose scores are all equal: ln C (softmax), (C−1)/C (svm)."""
        if not self.num_classes:
            return None
        c = self.num_classes
        return math.log(c) if self.loss_kind == "softmax" else (c - 1) / c

    def __call__(self, loss=None, *args) -> None:
        """Record one step (call after optimizer.step()); `loss` is a Tensor or a float."""
        h = self.history
        if loss is not None:
            h["loss"].append(float(_arr(loss)))
        now = [_arr(p) for _, p in self.params]
        if self._prev is not None:
            for (name, p), new, old in zip(self.params, now, self._prev):
                h["ratio"].setdefault(name, []).append(
                    float(np.linalg.norm(new - old) / max(np.linalg.norm(old), 1e-12)))
        self._prev = [a.copy() for a in now]
        for name, p in self.params:
            if p.grad is not None:
                h["grad_norm"].setdefault(name, []).append(float(np.linalg.norm(_arr(p.grad))))
        for name, st in self._acts.items():
            h["act_mean"].setdefault(name, []).append(st["mean"])
            h["act_std"].setdefault(name, []).append(st["std"])
            for key in ("dead", "saturated"):
                if key in st:
                    h[key].setdefault(name, []).append(st[key])

    on_step = __call__

    def flags(self) -> list:
        """What looks wrong, one sentence each (empty when nothing does)."""
        out, h = [], self.history
        if h["loss"] and self.chance:
            first, ch = h["loss"][0], self.chance
            if not 0.8 * ch <= first <= 1.5 * ch + 0.1:
                out.append(f"first loss {first:.3f} is far from chance {ch:.3f} "
                           f"({'ln C' if self.loss_kind == 'softmax' else '(C-1)/C'}, C = "
                           f"{self.num_classes}): check the initialisation scale and the loss")
        for name, rs in h["ratio"].items():
            r = float(np.median(rs))
            if r < RATIO_LOW:
                out.append(f"{name}: update/parameter ratio {r:.1e} (want ~1e-3): learning rate "
                           f"probably too low")
            elif r > RATIO_HIGH:
                out.append(f"{name}: update/parameter ratio {r:.1e} (want ~1e-3): learning rate "
                           f"probably too high")
        for name, d in h["dead"].items():
            if d and d[-1] > 0.5:
                out.append(f"{name}: {100 * d[-1]:.0f}% of the units are dead (zero for the whole "
                           f"batch): lower the learning rate or use leaky ReLU")
        for name, s in h["saturated"].items():
            if s and s[-1] > 0.5:
                out.append(f"{name}: {100 * s[-1]:.0f}% of the activations are saturated: the "
                           f"gradient through them vanishes; check the initialisation")
        return out

    def report(self) -> str:
        """A short text report: first loss vs chance, per layer ratio and gradients, flags."""
        h, lines = self.history, []
        steps = max(len(h["loss"]), max((len(v) for v in h["grad_norm"].values()), default=0))
        lines.append(f"monitor: {steps} steps")
        if h["loss"]:
            ch = self.chance
            lines.append(f"  loss: first {h['loss'][0]:.4f}"
                         + (f" (chance {ch:.4f})" if ch else "") + f", last {h['loss'][-1]:.4f}")
        for name, _ in self.params:
            rs, gs = h["ratio"].get(name), h["grad_norm"].get(name)
            parts = []
            if rs:
                parts.append(f"update/param ratio median {np.median(rs):.1e}")
            if gs:
                parts.append(f"grad norm last {gs[-1]:.2e}")
            lines.append(f"  {name}: " + ", ".join(parts or ["no steps"]))
        for name in h["act_mean"]:
            extra = ""
            if name in h["dead"]:
                extra = f", dead {100 * h['dead'][name][-1]:.0f}%"
            elif name in h["saturated"]:
                extra = f", saturated {100 * h['saturated'][name][-1]:.0f}%"
            lines.append(f"  {name}: activation mean {h['act_mean'][name][-1]:.3f} std "
                         f"{h['act_std'][name][-1]:.3f}{extra}")
        flags = self.flags()
        lines += [f"  ! {f}" for f in flags] or ["  nothing looks wrong"]
        return "\n".join(lines)

    def plot(self, path: str) -> str:
        """Loss, update/parameter ratios (log, with the 1e-3 line), gradient norms and activation
        health per step, as one PNG (matplotlib)."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("monitor.plot needs matplotlib: pip install 'chainrule[viz]'") \
                from None
        h = self.history
        fig = Figure(figsize=(11, 7), dpi=90)
        axes = fig.subplots(2, 2).ravel()
        axes[0].plot(h["loss"], color="C0")
        if self.chance:
            axes[0].axhline(self.chance, ls="--", color="gray", label="chance")
            axes[0].legend()
        axes[0].set(title="loss", xlabel="step")
        for name, rs in h["ratio"].items():
            axes[1].semilogy(rs, label=name)
        axes[1].axhline(1e-3, ls="--", color="gray")
        axes[1].set(title="update / parameter ratio (want ~1e-3)", xlabel="step")
        for name, gs in h["grad_norm"].items():
            axes[2].semilogy(gs, label=name)
        axes[2].set(title="gradient norm", xlabel="step")
        for key in ("dead", "saturated"):
            for name, v in h[key].items():
                axes[3].plot(v, label=f"{name} {key}")
        axes[3].set(title="dead ReLUs / saturated units (fraction)", xlabel="step", ylim=(0, 1))
        for ax in axes[1:]:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path)
        return path

    def close(self) -> None:
        """Take the forward hooks off the model."""
        for hd in self._handles:
            hd.remove()
        self._handles = []


def monitor(model, loss: str = "softmax", num_classes: int | None = None) -> Monitor:
    """A Monitor on `model`: call it after every optimizer.step() (see the module docstring).

    >>> mon = cr.viz.monitor(model); ...; mon(loss); print(mon.report())
    """
    return Monitor(model, loss, num_classes)
