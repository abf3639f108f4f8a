"""Grad mode as context managers and decorators: no_grad, enable_grad, set_grad_enabled,
inference_mode, detect_anomaly. The state itself is per thread, in autograd (`_tls`)."""
from __future__ import annotations

import functools
import inspect

from .autograd import _rewatch, _set_grad, _tls


class _GradMode:
    """Context manager and decorator (bare or called) that sets grad mode, restoring it on exit."""
    mode = True

    def __init__(self, fn=None):
        self._fn = fn
        if fn is not None:   # bare @no_grad
            self._wrapped = _with_mode(type(self), fn)
            functools.update_wrapper(self, fn)

    def __enter__(self):
        self._prev = _tls.grad
        _set_grad(self.mode)

    def __exit__(self, *exc):
        _set_grad(self._prev)
        return False

    def __call__(self, *args, **kwargs):
        if self._fn is None:   # @no_grad(): decorate the function given now
            return _with_mode(self.__class__, args[0])
        return self._wrapped(*args, **kwargs)

    def __get__(self, obj, objtype=None):   # @no_grad on a method
        return self if obj is None or self._fn is None else functools.partial(self, obj)


def _with_mode(mode_cls, fn):
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            value = None
            while True:   # each resume of the generator runs under the mode, as in PyTorch
                with mode_cls():
                    try:
                        item = gen.send(value)
                    except StopIteration as stop:
                        return stop.value
                value = yield item
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mode_cls():
            return fn(*args, **kwargs)
    return wrapper


class no_grad(_GradMode):
    """Turn off graph recording: `with cr.no_grad(): ...`, `@cr.no_grad` or `@cr.no_grad()`.

    >>> x = cr.ones(3, requires_grad=True)
    >>> with cr.no_grad(): y = x * 2
    >>> y.requires_grad
    False
    """
    mode = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a `no_grad` block."""
    mode = True


class set_grad_enabled:
    """Set grad mode now (`cr.set_grad_enabled(False)`), or for a block: `with cr.set_grad_enabled(m):`."""

    def __init__(self, mode: bool):
        self._prev = _tls.grad
        _set_grad(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_grad(self._prev)
        return False


class inference_mode(no_grad):
    """PyTorch's inference_mode: here the same as no_grad."""


class detect_anomaly:
    """Context in which the first op whose forward or backward makes NaN or inf raises, naming it.

    >>> with cr.detect_anomaly():
    ...     cr.tensor([-1.0], requires_grad=True).log()   # raises: log produced nan
    """

    def __enter__(self):
        self._prev = _tls.anomaly
        _tls.anomaly = True
        _rewatch()

    def __exit__(self, *exc):
        _tls.anomaly = self._prev
        _rewatch()
        return False
