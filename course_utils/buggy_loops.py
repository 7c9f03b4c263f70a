"""Exhibits: training loops with a bug left in **on purpose**, for lesson 03 to show.

Never use these for real work; the working loops are in :mod:`course_utils.train`.

* :func:`distill_teacher_train_mode` is :func:`course_utils.train.distill_live` with the bug
  of forgetting ``teacher.eval()``: the teacher runs in *train* mode, so its BatchNorm layers
  normalise with each batch's own statistics (and overwrite their running averages). Lesson
  03 uses it to show what the bug costs.

(Lesson 03's other bug, slicing stored teacher logits by batch number while the loader
shuffles, is shown by feeding :func:`course_utils.train.distill` misaligned logits.)
"""
from __future__ import annotations

import copy

import torch

from .config import get_device
from .losses import kd_loss
from .train import History, as_loader, train_loop


def distill_teacher_train_mode(student, teacher, train, epochs: int = 10, lr: float = 3e-3,
                               T: float = 4.0, alpha: float = 0.5, test=None, batch_size: int = 128,
                               seed: int = 0, device=None, desc: str = "distill (BUG: teacher.train())",
                               progress: bool = True) -> History:
    """EXHIBIT (lesson 03): ``distill_live`` with the bug of forgetting ``teacher.eval()``.

    The teacher runs in train mode: BatchNorm uses each batch's statistics (so a teacher's
    answer for one example depends on the other examples in its batch) and keeps updating its
    running averages, and dropout (if any) would stay on. A *copy* of the teacher is used so
    the caller's teacher is left unharmed.
    """
    loader = as_loader(train, batch_size, True, seed)
    device = device or get_device()
    buggy = copy.deepcopy(teacher).to(device).train()   # the bug: train mode, not eval mode

    def batch_loss(student_logits, xb, yb):
        with torch.no_grad():
            teacher_logits = buggy(xb)
        return kd_loss(student_logits, teacher_logits, yb, T=T, alpha=alpha)
    return train_loop(student, loader, batch_loss, epochs=epochs, lr=lr, test=test,
                      device=device, desc=desc, progress=progress)
