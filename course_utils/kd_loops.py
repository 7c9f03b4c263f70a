"""Distillation loops beyond ``train.distill``: cached teacher logits, and a known bug.

* :func:`distill_cached` runs the teacher **once** over the training set, keeps its logits,
  and trains the student against them. Every batch carries the *indices* of its rows, so the
  cached logits stay aligned with the shuffled batches (the classic bug is to slice the cache
  by batch number while the loader shuffles: lesson 03 has you find it). Without
  augmentation this gives the same result as ``distill`` for a fraction of the time, because
  the teacher is not re-run every epoch.
* :func:`distill_teacher_train_mode` is ``distill`` with a bug left in on purpose: the
  teacher runs in *train* mode, so its BatchNorm layers normalise with each batch's own
  statistics (and overwrite their running averages). Lesson 03 uses it to show what the bug
  costs; never use it for real work.
"""
from __future__ import annotations

import copy

import torch

from .config import get_device
from .data import make_loader
from .losses import kd_loss
from .train import History, _train, predict_logits


def _check_xy(x, y):
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        raise TypeError("Pass the training inputs and labels as torch tensors `x, y`.")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}.")


def distill_cached(student, x: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor | None = None,
                   teacher=None, epochs: int = 10, lr: float = 3e-3, T: float = 4.0,
                   alpha: float = 0.5, loss_fn=None, test=None, batch_size: int = 128,
                   seed: int = 0, device=None, weight_decay: float = 0.0,
                   desc: str = "distill (cached)", progress: bool = True) -> History:
    """Train ``student`` on ``(x, y)`` against cached teacher logits (one row per row of ``x``).

    Give either ``teacher_logits`` (computed once, e.g. with ``predict_logits``) or the
    ``teacher`` itself (its logits are then computed here, in eval mode). The loss is
    ``loss_fn(student_logits, teacher_logits, labels)``, by default ``kd_loss`` with ``T`` and
    ``alpha``. Returns a :class:`~course_utils.train.History` like ``fit`` and ``distill``.
    """
    _check_xy(x, y)
    if teacher_logits is None:
        if teacher is None:
            raise ValueError("Give `teacher_logits` (cached) or a `teacher` to compute them.")
        teacher_logits = predict_logits(teacher, x)
    if not torch.is_tensor(teacher_logits) or teacher_logits.dim() != 2 or len(teacher_logits) != len(x):
        shape = tuple(teacher_logits.shape) if torch.is_tensor(teacher_logits) else type(teacher_logits).__name__
        raise ValueError(f"`teacher_logits` must have one row per training example ({len(x)}), "
                         f"got {shape}.")
    device = device or get_device()
    teacher_logits = teacher_logits.detach().to(device)
    labels = y.to(device)
    # The loader yields (inputs, row indices): the indices pick the matching labels and logits.
    loader = make_loader(x, torch.arange(len(x)), batch_size, True, seed)
    loss_fn = loss_fn or (lambda s, t, lab: kd_loss(s, t, lab, T=T, alpha=alpha))

    def step_loss(student_logits, xb, idx):
        return loss_fn(student_logits, teacher_logits[idx], labels[idx])
    return _train(student, loader, epochs, lr, step_loss, test, device, desc, weight_decay, progress)


def distill_teacher_train_mode(student, teacher, train, epochs: int = 10, lr: float = 3e-3,
                               T: float = 4.0, alpha: float = 0.5, test=None, batch_size: int = 128,
                               seed: int = 0, device=None, desc: str = "distill (BUG: teacher.train())",
                               progress: bool = True) -> History:
    """``distill`` with the bug of forgetting ``teacher.eval()`` -- for lesson 03's demonstration.

    The teacher runs in train mode: BatchNorm uses each batch's statistics (so a teacher's
    answer for one example depends on the other examples in its batch) and keeps updating its
    running averages, and dropout (if any) would stay on. A *copy* of the teacher is used so
    the caller's teacher is left unharmed.
    """
    if isinstance(train, (tuple, list)) and len(train) == 2 and torch.is_tensor(train[0]):
        train = make_loader(train[0], train[1], batch_size, True, seed)
    device = device or get_device()
    buggy = copy.deepcopy(teacher).to(device).train()   # the bug: train mode, not eval mode

    def step_loss(student_logits, xb, yb):
        with torch.no_grad():
            teacher_logits = buggy(xb)
        return kd_loss(student_logits, teacher_logits, yb, T=T, alpha=alpha)
    return _train(student, train, epochs, lr, step_loss, test, device, desc, 0.0, progress)
