"""Hinton's omitted-class experiment (lesson 02): leave a class out, then shift its bias.

Hinton et al. (2015) distilled an MNIST student on a transfer set with no 3s at all; it still
got most test 3s right once the bias of its "3" output was raised. The pieces:

* :func:`without_class` drops every example of one class from a transfer set;
* :func:`shift_class_bias` raises (or lowers) the bias of one output unit of a model;
* :func:`class_errors` counts errors overall and on one class;
* :func:`bias_shift_curve` -- accuracy overall and on the class for each shift of its logit;
* :func:`search_bias_shift` picks that shift on held-out data (never the test set).

All taught in lesson 02.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .train import predict_logits


def without_class(x, y, cls: int, *extra):
    """``x``, ``y`` (and any ``extra`` arrays with the same rows) without the rows of class ``cls``.

    Taught in lesson 02.
    """
    y = torch.as_tensor(y)
    keep = y != cls
    if keep.all():
        raise ValueError(f"There is no example of class {cls} to remove.")
    out = [x[keep], y[keep]] + [e[keep] for e in extra]
    return tuple(out)


def _last_linear(model: nn.Module) -> nn.Linear:
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None or last.bias is None:
        raise ValueError("The model has no final nn.Linear layer with a bias to shift.")
    return last


def shift_class_bias(model: nn.Module, cls: int, shift: float, copy_model: bool = True) -> nn.Module:
    """A copy of ``model`` (or the model itself) whose output unit ``cls`` has its bias raised by ``shift``.

    The output layer is the last ``nn.Linear`` of the model. Adding ``shift`` to one logit
    multiplies that class's odds against every other class by ``exp(shift)``.

    Taught in lesson 02.
    """
    model = copy.deepcopy(model) if copy_model else model
    head = _last_linear(model)
    if not 0 <= cls < head.out_features:
        raise ValueError(f"Class {cls} is not one of the model's {head.out_features} outputs.")
    with torch.no_grad():
        head.bias[cls] += float(shift)
    return model


def class_errors(logits, y, cls: int) -> dict:
    """Errors overall and on class ``cls``: counts and the share of ``cls`` examples right.

    Taught in lesson 02.
    """
    logits, y = torch.as_tensor(logits), torch.as_tensor(y)
    pred = logits.argmax(-1)
    wrong = pred != y
    of_cls = y == cls
    n_cls = int(of_cls.sum())
    return {"errors": int(wrong.sum()), "n": len(y), "accuracy": float((~wrong).float().mean()),
            f"errors_on_{cls}": int((wrong & of_cls).sum()), f"n_{cls}": n_cls,
            f"accuracy_on_{cls}": float((~wrong[of_cls]).float().mean()) if n_cls else float("nan")}


def bias_shift_curve(logits, y, cls: int, shifts) -> dict:
    """Accuracy overall and on class ``cls`` for each bias shift (applied to the logits).

    Taught in lesson 02.
    """
    logits, y = torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(y)
    overall, on_cls = [], []
    for s in shifts:
        shifted = logits.clone()
        shifted[:, cls] += float(s)
        r = class_errors(shifted, y, cls)
        overall.append(r["accuracy"])
        on_cls.append(r[f"accuracy_on_{cls}"])
    return {"shift": [float(s) for s in shifts], "accuracy": overall, f"accuracy_on_{cls}": on_cls}


def search_bias_shift(model, x_val, y_val, cls: int, shifts=None) -> float:
    """The bias shift for class ``cls`` with the best overall accuracy on held-out data.

    Use data the student was not tested on (a validation split), never the test set. Ties go
    to the smallest shift.

    Taught in lesson 02.
    """
    shifts = np.arange(0.0, 10.01, 0.25) if shifts is None else np.asarray(shifts, dtype=float)
    if len(x_val) == 0:
        raise ValueError("search_bias_shift needs some held-out examples.")
    logits = predict_logits(model, torch.as_tensor(x_val, dtype=torch.float32))
    curve = bias_shift_curve(logits, y_val, cls, shifts)
    best = int(np.argmax(curve["accuracy"]))  # argmax returns the first (smallest) on ties
    return float(shifts[best])
