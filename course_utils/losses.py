"""Reference implementations of the losses the lessons teach (lesson 01).

Lesson 01 has the learner write these; later lessons import them from here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_with_temperature(logits: torch.Tensor, T: float = 1.0, dim: int = -1) -> torch.Tensor:
    """``softmax(logits / T)`` along ``dim``. T > 1 softens the distribution, T < 1 sharpens it.

    Taught in lesson 01.
    """
    if T <= 0:
        raise ValueError(f"The temperature must be positive, got T={T}.")
    return torch.softmax(logits / T, dim=dim)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            labels: torch.Tensor | None = None, T: float = 4.0, alpha: float = 0.5) -> torch.Tensor:
    """Hinton et al. (2015) distillation loss.

    ``alpha * T**2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)``

    * the KL term compares the two distributions softened by temperature ``T``; it is averaged
      over the batch (``reduction="batchmean"``: sum over classes, mean over examples), which
      is the true KL divergence -- ``"mean"`` would also divide by the number of classes;
    * ``T**2`` keeps the soft term's gradients the same size whatever ``T`` is (the gradient
      of the softened KL shrinks like ``1/T**2``);
    * ``alpha`` weighs the soft term against the ordinary cross-entropy on hard labels;
      with ``labels=None`` (or ``alpha=1``) only the soft term is used.

    Taught in lesson 01.
    """
    teacher_logits = teacher_logits.detach()
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    p_teacher = F.softmax(teacher_logits / T, dim=-1)
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean") * (T * T)
    if labels is None or alpha >= 1.0:
        return soft
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1.0 - alpha) * hard
