"""Distilling from stored teacher outputs, and the pieces of Hinton's omitted-class experiment.

* :func:`distill_from_outputs` trains a student on a *transfer set* of inputs and the logits a
  teacher gave for them, computed once. It is what someone distilling through an API does:
  query the teacher once, store its answers, train on them (no teacher weights, and labels
  only if they have some). It gives the same result as ``train.distill`` with the teacher
  in eval mode, several times faster, because the teacher is not run again every epoch.
* :func:`without_class` drops every example of one class from a transfer set;
* :func:`shift_class_bias` raises (or lowers) the bias of one output unit of a model;
* :func:`class_errors` counts errors overall and on one class;
* :func:`search_bias_shift` picks that shift on held-out data (never the test set).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .data import make_loader
from .losses import kd_loss
from .train import History, _train, predict_logits


def distill_from_outputs(student, x, teacher_logits, labels=None, epochs: int = 10,
                         lr: float = 3e-3, T: float = 4.0, alpha: float = 1.0, test=None,
                         batch_size: int = 128, seed: int = 0, device=None,
                         weight_decay: float = 0.0, loss_fn=None, desc: str = "distill",
                         progress: bool = True) -> History:
    """Train ``student`` on inputs ``x`` to match the stored ``teacher_logits``.

    The loss is :func:`course_utils.losses.kd_loss` with ``T`` and ``alpha`` (or
    ``loss_fn(student_logits, teacher_logits, labels)``). With ``labels=None`` only the soft
    term is used: the realistic case of a transfer set without labels.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    teacher_logits = torch.as_tensor(teacher_logits, dtype=torch.float32)
    if len(x) != len(teacher_logits):
        raise ValueError(f"x has {len(x)} rows but teacher_logits has {len(teacher_logits)}: "
                         "give one row of teacher logits per input.")
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long)
        if len(labels) != len(x):
            raise ValueError(f"x has {len(x)} rows but labels has {len(labels)}.")
    if labels is None and loss_fn is None and alpha < 1.0:
        raise ValueError(f"alpha={alpha} mixes in a hard-label loss, but no labels were given: "
                         "pass labels=..., or alpha=1.0 to use the teacher's outputs only.")
    loss_fn = loss_fn or (lambda s, t, y: kd_loss(s, t, y, T=T, alpha=alpha))
    index = torch.arange(len(x))
    # The loader yields (inputs, row numbers); the row numbers fetch the stored outputs.
    loader = make_loader(x, index, batch_size, True, seed)

    def step_loss(student_logits, xb, rows):
        rows = rows.cpu()
        t = teacher_logits[rows].to(student_logits.device)
        y = labels[rows].to(student_logits.device) if labels is not None else None
        return loss_fn(student_logits, t, y)

    return _train(student, loader, epochs, lr, step_loss, test, device, desc, weight_decay, progress)


def without_class(x, y, cls: int, *extra):
    """``x``, ``y`` (and any ``extra`` arrays with the same rows) without the rows of class ``cls``."""
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
    """
    model = copy.deepcopy(model) if copy_model else model
    head = _last_linear(model)
    if not 0 <= cls < head.out_features:
        raise ValueError(f"Class {cls} is not one of the model's {head.out_features} outputs.")
    with torch.no_grad():
        head.bias[cls] += float(shift)
    return model


def class_errors(logits, y, cls: int) -> dict:
    """Errors overall and on class ``cls``: counts and the share of ``cls`` examples right."""
    logits, y = torch.as_tensor(logits), torch.as_tensor(y)
    pred = logits.argmax(-1)
    wrong = pred != y
    of_cls = y == cls
    n_cls = int(of_cls.sum())
    return {"errors": int(wrong.sum()), "n": len(y), "accuracy": float((~wrong).float().mean()),
            f"errors_on_{cls}": int((wrong & of_cls).sum()), f"n_{cls}": n_cls,
            f"accuracy_on_{cls}": float((~wrong[of_cls]).float().mean()) if n_cls else float("nan")}


def bias_shift_curve(logits, y, cls: int, shifts) -> dict:
    """Accuracy overall and on class ``cls`` for each bias shift (applied to the logits)."""
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
    """
    shifts = np.arange(0.0, 10.01, 0.25) if shifts is None else np.asarray(shifts, dtype=float)
    if len(x_val) == 0:
        raise ValueError("search_bias_shift needs some held-out examples.")
    logits = predict_logits(model, torch.as_tensor(x_val, dtype=torch.float32))
    curve = bias_shift_curve(logits, y_val, cls, shifts)
    best = int(np.argmax(curve["accuracy"]))  # argmax returns the first (smallest) on ties
    return float(shifts[best])
