"""A small transformer learns to reverse strings of digits: 31415926 -> 62951413.

    python examples/sequence_reverse.py              # ~9 s CPU; prints the accuracy
    python examples/sequence_reverse.py --steps 200 --length 4   # a shorter run

Each position's output must be the digit at the mirrored position: one encoder layer whose
attention learns to look from position t to position L−1−t (via learned position embeddings),
then a per-position classifier. Sequence accuracy counts strings with every digit right.
"""
import argparse
import time

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


class Reverser(cr.nn.Module):
    def __init__(self, length, d_model=64, nhead=4, layers=1):
        super().__init__()
        self.tok = cr.nn.Embedding(10, d_model)
        self.pos = cr.nn.Parameter(cr.randn(length, d_model) * 0.5)
        layer = cr.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model,
                                              dropout=0.0, batch_first=True)
        self.encoder = cr.nn.TransformerEncoder(layer, layers)
        self.head = cr.nn.Linear(d_model, 10)

    def forward(self, digits):                    # (N, L) int64 -> (N, L, 10) scores
        return self.head(self.encoder(self.tok(digits) + self.pos))


def batch(rng, n, length):
    x = rng.integers(0, 10, size=(n, length))
    return cr.tensor(x), cr.tensor(x[:, ::-1].copy())


def sequence_accuracy(model, x, y):
    with cr.no_grad():
        pred = model(x).numpy().argmax(-1)
    return float((pred == y.numpy()).all(axis=1).mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=8)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cr.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Reverser(args.length)
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = batch(rng, args.batch_size, args.length)
        loss = F.cross_entropy(model(x).reshape(-1, 10), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.perf_counter() - t0:.1f} s)")
    x, y = batch(np.random.default_rng(args.seed + 1), 2000, args.length)
    acc = sequence_accuracy(model, x, y)
    print(f"sequence accuracy on 2000 new strings of {args.length} digits: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
