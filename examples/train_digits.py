"""Train the lecture's 2-layer network on the UCI 8×8 digits and check it on a held-out 20%.

    python examples/train_digits.py            # needs scikit-learn, which ships the data

The same run from the command line, with a progress bar and plots:  python -m chainrule train digits
"""
import os

import chainrule as cr
from chainrule.train import accuracy, fit, make_mlp

X, y = cr.data.digits()                       # (1797, 64) float32 in [0, 1], int64 labels 0..9
train_set, test_set = cr.data.random_split(cr.data.TensorDataset(X, y), [0.8, 0.2], seed=0)

cr.manual_seed(0)
model = make_mlp(64, 10, hidden=[100], activation="relu")          # 64 → 100 → 10
print(model)
optimizer = cr.optim.Adam(model.parameters(), lr=0.005)

# Written out, one epoch of fit() is:
#   for xb, yb in cr.data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0):
#       loss = F.cross_entropy(model(xb), yb) + 1e-4 * F.l2_penalty(weights)
#       optimizer.zero_grad(); loss.backward(); optimizer.step()
history = fit(model, train_set, epochs=30, optimizer=optimizer, loss="ce", weight_decay=1e-4,
              batch_size=64, test_data=test_set, seed=0)

X_test, y_test = test_set.tensors
print(f"held-out accuracy: {accuracy(model, X_test, y_test):.4f}")

os.makedirs("runs", exist_ok=True)
cr.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 30},
        "runs/digits_mlp.safetensors")
restored = make_mlp(64, 10, hidden=[100])
restored.load_state_dict(cr.load("runs/digits_mlp.safetensors")["model"])
print(f"reloaded model, held-out accuracy: {accuracy(restored, X_test, y_test):.4f}")
