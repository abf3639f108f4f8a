"""cr.nn: modules, layers, losses and initialisers with PyTorch's names.

>>> model = cr.nn.Sequential(cr.nn.Linear(64, 100), cr.nn.ReLU(), cr.nn.Linear(100, 10))
>>> loss = cr.nn.CrossEntropyLoss()(model(cr.randn(8, 64)), cr.randint(0, 10, (8,)))
>>> loss.backward()
"""
from . import functional, init, utils
from . import parallel   # DistributedDataParallel; mpi4py is imported only when it is used
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .activation import (CELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid,  # noqa: F401
                         Mish, PReLU, ReLU6, SiLU, Softmin, Softsign, Tanhshrink, Threshold)
from .container import (Flatten, Identity, ModuleDict, ModuleList, ParameterDict, ParameterList,
                        Sequential, Unflatten)
from .functional_call import functional_call
from .layers import Bilinear, Dropout, Linear, Maxout
from .activation import Hardshrink, RReLU, Softshrink  # noqa: F401
from .pooling import LPPool1d, LPPool2d  # noqa: F401
from .normalization import InstanceNorm3d, RMSNorm  # noqa: F401
from .dropout import Dropout3d  # noqa: F401
from .padding import (ChannelShuffle, CircularPad1d, CircularPad2d, CircularPad3d,  # noqa: F401
                      ConstantPad1d, ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d,
                      ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d,
                      Softmax2d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, MultiMarginLoss,
                   NLLLoss)
from .loss import HingeEmbeddingLoss, MultiLabelMarginLoss, TripletMarginWithDistanceLoss  # noqa: F401
from .loss import (CosineEmbeddingLoss, CosineSimilarity, GaussianNLLLoss, HuberLoss,  # noqa: F401
                   KLDivLoss, MarginRankingLoss, MultiLabelSoftMarginLoss, PairwiseDistance,
                   PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss, TripletMarginLoss)
from .module import Module
from .normalization import BatchNorm1d, LayerNorm
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Fold, Unfold
from .dropout import AlphaDropout, Dropout1d, Dropout2d
from .normalization import (BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d, InstanceNorm2d,
                            LocalResponseNorm)
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d, PixelShuffle, PixelUnshuffle,
                      Upsample, UpsamplingBilinear2d, UpsamplingNearest2d)
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from .sparse import Embedding
from .attention import MultiheadAttention
from .transformer import TransformerEncoder, TransformerEncoderLayer
from .transformer import Transformer, TransformerDecoder, TransformerDecoderLayer  # noqa: F401

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Identity", "Flatten", "Linear", "Maxout",
    "Dropout", "BatchNorm1d", "LayerNorm", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU",
    "Softplus", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MultiMarginLoss",
    "MSELoss", "L1Loss", "BCEWithLogitsLoss", "BCELoss", "functional", "init", "utils", "functional_call",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Embedding",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "ModuleDict",
    "ParameterList", "ParameterDict", "Unflatten", "parallel",
    "CELU", "GLU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "Mish", "PReLU",
    "ReLU6", "SiLU", "Softmin", "Softsign", "Tanhshrink", "Threshold",
]
__all__ += [  # ConvNets (issue 11)
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Fold", "Unfold", "AlphaDropout",
    "Dropout1d", "Dropout2d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "LocalResponseNorm", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d",
    "PixelShuffle", "PixelUnshuffle", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d",
]
__all__ += [  # PyTorch parity (H2)
    "Bilinear", "Hardshrink", "Softshrink", "ChannelShuffle", "Softmax2d", "ConstantPad1d",
    "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "HingeEmbeddingLoss", "MultiLabelMarginLoss",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "RReLU", "LPPool1d", "LPPool2d",
    "RMSNorm", "InstanceNorm3d", "Dropout3d", "TripletMarginWithDistanceLoss",
]
