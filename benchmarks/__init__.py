"""chainrule benchmarks: five training workloads timed against hand-written NumPy (and torch/jax).

Run `python -m benchmarks [--quick] [--only W1,W3] [--rounds N] [--profile]`. This package imports
nothing heavy at import time: the runner must pin BLAS to one thread before NumPy is loaded.
"""

WORKLOADS = ("w1_digits_mlp", "w2_big_matmul", "w3_mnist_mlp", "w4_micrograd_demo",
             "w5_tanh_chain", "w6_digits_cnn", "w7_cifar_block", "w8_lstm")
