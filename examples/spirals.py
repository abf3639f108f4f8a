"""A small MLP separates three interleaved spirals, which no linear classifier can.

    python examples/spirals.py                 # writes runs/spirals_boundary.png (needs matplotlib)
"""
import os

import chainrule as cr
from chainrule.train import accuracy, fit, make_mlp, plot_decision_boundary

X, y = cr.data.spirals(300, classes=3, noise=0.2, seed=0)

for hidden in ([], [100]):          # [] = softmax regression (linear), [100] = one hidden layer
    cr.manual_seed(0)
    model = make_mlp(2, 3, hidden=hidden, activation="relu")
    fit(model, (X, y), epochs=100, optimizer=cr.optim.Adam(model.parameters(), lr=0.01),
        weight_decay=1e-4, batch_size=32, log=None)
    print(f"hidden={hidden}: training accuracy {accuracy(model, X, y):.4f}")

try:
    os.makedirs("runs", exist_ok=True)
    print("wrote", plot_decision_boundary(model, X, y, "runs/spirals_boundary.png"))
except ImportError as e:
    print(e)
