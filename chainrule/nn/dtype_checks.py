"""One check shared by layers with parameters: PyTorch refuses an input whose dtype differs from
the parameters' (NumPy would widen silently), and integer inputs to float layers."""
from __future__ import annotations

import numpy as np

from .functional_conv import _dtype


def check_input_dtype(who: str, input, *params) -> None:
    """RuntimeError naming `who`, the dtypes and the input shape when input and params disagree."""
    xd = _dtype(input)
    params = [p for p in params if p is not None]
    for p in params:
        pd = _dtype(p)
        if xd is pd or xd == pd:
            continue
        what = "an integer" if xd.kind in "biu" else f"a {xd}"
        raise RuntimeError(f"{who}: got {what} input of shape {tuple(np.shape(input))} for {pd} "
                           f"parameters of shape {tuple(np.shape(p))} (cast one: "
                           f"x.astype(np.{pd.name})" + (f" or module.to(np.{xd.name})" if xd.kind == "f"
                                                        else "") + ")")
    if not params and xd.kind in "biu":
        raise RuntimeError(f"{who}: expected a floating-point input, got {xd} of shape "
                           f"{tuple(np.shape(input))}")
