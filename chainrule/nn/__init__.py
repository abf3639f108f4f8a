"""cr.nn: modules, layers, losses and initialisers with PyTorch's names.

>>> model = cr.nn.Sequential(cr.nn.Linear(64, 100), cr.nn.ReLU(), cr.nn.Linear(100, 10))
>>> loss = cr.nn.CrossEntropyLoss()(model(cr.randn(8, 64)), cr.randint(0, 10, (8,)))
>>> loss.backward()
"""
from . import functional, init, utils
from . import parallel   # DistributedDataParallel; mpi4py is imported only when it is used
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .container import Flatten, Identity, ModuleList, Sequential
from .functional_call import functional_call
from .layers import Dropout, Linear, Maxout
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, MultiMarginLoss,
                   NLLLoss)
from .module import Module
from .normalization import BatchNorm1d, LayerNorm
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Identity", "Flatten", "Linear", "Maxout",
    "Dropout", "BatchNorm1d", "LayerNorm", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU",
    "Softplus", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MultiMarginLoss",
    "MSELoss", "L1Loss", "BCEWithLogitsLoss", "BCELoss", "functional", "init", "utils", "functional_call",
    "parallel",
]
