"""What a student learned (lesson 03): fidelity to its teacher and calibration, beyond accuracy.

* :func:`accuracy` -- share of rows whose arg-max is the label;
* :func:`agreement` -- top-1 agreement: share of rows where student and teacher pick the
  same class (Stanton et al. 2021, *Does Knowledge Distillation Really Work?*, arXiv:2106.05945,
  call this *fidelity*);
* :func:`kl_to_teacher` -- mean KL(teacher || student) of the two softmax distributions;
* :func:`expected_calibration_error` -- ECE with equal-width confidence bins (Guo et al. 2017,
  *On Calibration of Modern Neural Networks*, arXiv:1706.04599);
* :func:`reliability_data` -- the per-bin numbers a reliability diagram draws;
* :func:`student_report` -- all of the above for one model, as a dict (one row of a table).

All functions take logits (any real numbers, shape ``(N, C)``) as torch tensors and return
Python floats, so their results go straight into ``run_seeds`` and ``stats.summarize``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_logits(logits, name: str = "logits") -> torch.Tensor:
    if not torch.is_tensor(logits):
        raise TypeError(f"`{name}` should be a torch tensor of shape (N, classes), "
                        f"not {type(logits).__name__}.")
    if logits.dim() != 2:
        raise ValueError(f"`{name}` should have shape (N, classes), got {tuple(logits.shape)}.")
    if len(logits) == 0:
        raise ValueError(f"`{name}` is empty.")
    return logits.detach().float().cpu()


def _check_pair(a, b, name_a: str, name_b: str):
    a, b = _check_logits(a, name_a), _check_logits(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"`{name_a}` has shape {tuple(a.shape)} but `{name_b}` has shape "
                         f"{tuple(b.shape)}: they must describe the same examples and classes.")
    return a, b


def _check_labels(labels, n: int) -> torch.Tensor:
    labels = torch.as_tensor(labels).detach().cpu().long().reshape(-1)
    if len(labels) != n:
        raise ValueError(f"There are {n} rows of logits but {len(labels)} labels.")
    return labels


def accuracy(logits, labels) -> float:
    """Share of rows whose arg-max equals the label."""
    logits = _check_logits(logits)
    labels = _check_labels(labels, len(logits))
    return float((logits.argmax(-1) == labels).float().mean())


def agreement(student_logits, teacher_logits) -> float:
    """Top-1 agreement: the share of examples where student and teacher predict the same class.

    It ignores the labels: a student can agree with its teacher on a wrong answer, and
    disagree with it on a right one.

    Taught in lesson 03.
    """
    s, t = _check_pair(student_logits, teacher_logits, "student_logits", "teacher_logits")
    return float((s.argmax(-1) == t.argmax(-1)).float().mean())


def kl_to_teacher(student_logits, teacher_logits, T: float = 1.0) -> float:
    """Mean over examples of KL(p_teacher || p_student) at temperature ``T`` (in nats).

    Taught in lesson 03.
    """
    if T <= 0:
        raise ValueError(f"The temperature must be positive, got T={T}.")
    s, t = _check_pair(student_logits, teacher_logits, "student_logits", "teacher_logits")
    return float(F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1),
                          reduction="batchmean", log_target=True))


def reliability_data(logits, labels, n_bins: int = 10) -> dict:
    """Per-bin numbers of a reliability diagram, with equal-width confidence bins on [0, 1].

    The confidence of a prediction is its largest softmax probability. Returns a dict of
    lists, one entry per bin: ``lower``, ``upper`` (bin edges), ``count`` (examples in the
    bin), ``confidence`` (their mean confidence) and ``accuracy`` (share of them that are
    right); empty bins have count 0 and NaN confidence/accuracy.

    Taught in lesson 03.
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}.")
    n_bins = int(n_bins)
    logits = _check_logits(logits)
    labels = _check_labels(labels, len(logits))
    probs = logits.softmax(-1)
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels).float()
    # bin i holds confidences in (i/n, (i+1)/n]; a confidence of exactly 0 cannot happen
    index = (confidence * n_bins).ceil().long().clamp(1, n_bins) - 1
    out = {"lower": [], "upper": [], "count": [], "confidence": [], "accuracy": []}
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        out["lower"].append(b / n_bins)
        out["upper"].append((b + 1) / n_bins)
        out["count"].append(count)
        out["confidence"].append(float(confidence[mask].mean()) if count else float("nan"))
        out["accuracy"].append(float(correct[mask].mean()) if count else float("nan"))
    return out


def expected_calibration_error(logits, labels, n_bins: int = 10) -> float:
    """ECE: the average gap |accuracy - confidence| over bins, weighted by bin size.

    0 means perfectly calibrated: among predictions made with 80% confidence, 80% are right.

    Taught in lesson 03.
    """
    bins = reliability_data(logits, labels, n_bins)
    total = sum(bins["count"])
    return float(sum(c / total * abs(a - p) for c, a, p in
                     zip(bins["count"], bins["accuracy"], bins["confidence"]) if c))


def student_report(student_logits, labels, teacher_logits=None, n_bins: int = 10) -> dict:
    """Accuracy, ECE and (given the teacher's logits) agreement and KL to the teacher."""
    report = {"accuracy": accuracy(student_logits, labels),
              "ece": expected_calibration_error(student_logits, labels, n_bins)}
    if teacher_logits is not None:
        report["agreement"] = agreement(student_logits, teacher_logits)
        report["kl_to_teacher"] = kl_to_teacher(student_logits, teacher_logits)
    return report
