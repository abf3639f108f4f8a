"""cr.optim: optimizers with PyTorch's names, update formulas and state_dict layout.

>>> opt = cr.optim.Adam(model.parameters(), lr=1e-3)
>>> opt.zero_grad(); loss.backward(); opt.step()
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .adagrad import Adagrad
from .adam_variants import Adadelta, Adamax, NAdam, RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler",
           "Adamax", "NAdam", "RAdam", "Adadelta"]
