"""Looking inside soft targets (lesson 01): entropy, the "dark knowledge" of a prediction, gradients.

Lesson 01 uses these to show what a trained teacher's softened outputs hold besides the
answer, and to check the loss algebra numerically (KL vs cross-entropy, the T**2 factor).
Later lessons reuse them (calibration, fidelity, token-level KD).
"""
from __future__ import annotations

from typing import Callable

import torch


def _check_probs(probs: torch.Tensor, name: str = "probs") -> torch.Tensor:
    probs = torch.as_tensor(probs)
    if not probs.is_floating_point():
        raise TypeError(f"`{name}` should hold probabilities (floats), got dtype {probs.dtype}.")
    if probs.dim() == 0:
        raise ValueError(f"`{name}` should have a class axis (the last one), got a scalar.")
    return probs


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy ``-sum p log p`` in nats along ``dim`` (0 log 0 counts as 0)."""
    probs = _check_probs(probs)
    return -(torch.special.xlogy(probs, probs)).sum(dim)


def dark_knowledge(probs: torch.Tensor, answer: int | None = None, k: int = 3) -> list[tuple[int, float]]:
    """The ``k`` most likely classes *other than* ``answer`` (default: the argmax), as
    ``[(class, probability), ...]``, most likely first: what else the model thinks an
    input resembles.
    """
    probs = _check_probs(probs)
    if probs.dim() != 1:
        raise ValueError(f"`probs` should be one probability vector, got shape {tuple(probs.shape)}.")
    n = probs.shape[0]
    answer = int(probs.argmax()) if answer is None else int(answer)
    if not 0 <= answer < n:
        raise ValueError(f"`answer` should be a class index in [0, {n}), got {answer}.")
    k = max(0, min(int(k), n - 1))
    others = probs.clone().double()
    others[answer] = -1.0
    values, classes = others.topk(k)
    return [(int(c), float(v)) for c, v in zip(classes, values)]


def wrong_class_mass(probs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Per row, the probability given to every class but ``labels`` (default: the argmax)."""
    probs = _check_probs(probs)
    if probs.dim() != 2:
        raise ValueError(f"`probs` should have shape (examples, classes), got {tuple(probs.shape)}.")
    labels = probs.argmax(-1) if labels is None else torch.as_tensor(labels).long()
    if labels.shape != probs.shape[:1]:
        raise ValueError(f"`labels` should have shape {tuple(probs.shape[:1])}, got {tuple(labels.shape)}.")
    return 1.0 - probs.gather(1, labels[:, None]).squeeze(1)


def class_similarity(logits: torch.Tensor, labels: torch.Tensor, T: float = 1.0,
                     num_classes: int | None = None) -> torch.Tensor:
    """Row ``c``: the model's mean ``softmax(logits / T)`` over the examples of true class ``c``.

    Off the diagonal it says which classes the model thinks look alike. A class with no
    example gets a row of NaN.
    """
    if T <= 0:
        raise ValueError(f"The temperature must be positive, got T={T}.")
    logits = torch.as_tensor(logits, dtype=torch.float32)
    labels = torch.as_tensor(labels).long()
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"Need logits (N, C) and labels (N,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}.")
    num_classes = num_classes or logits.shape[1]
    probs = torch.softmax(logits / T, dim=-1)
    out = torch.full((num_classes, logits.shape[1]), float("nan"))
    for c in range(num_classes):
        rows = probs[labels == c]
        if len(rows):
            out[c] = rows.mean(0)
    return out


def logit_gradient(loss_fn: Callable, student_logits: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``d loss_fn(student_logits, *args, **kwargs) / d student_logits`` by autograd.

    The logits are copied into a fresh leaf tensor, so the caller's tensor is untouched.
    ``loss_fn`` must return a single number (a 0-d tensor).
    """
    z = torch.as_tensor(student_logits).detach().clone().requires_grad_(True)
    loss = loss_fn(z, *args, **kwargs)
    if not torch.is_tensor(loss) or loss.numel() != 1:
        raise ValueError("`loss_fn` should return a single-number tensor (reduce over the batch).")
    (grad,) = torch.autograd.grad(loss.reshape(()), z)
    return grad


def numerical_gradient(fn: Callable, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences ``(f(x + eps e_i) - f(x - eps e_i)) / 2 eps`` for every entry.

    Computed in float64 (use it on small tensors: it calls ``fn`` twice per entry). It is
    the independent check of an autograd gradient.
    """
    x = torch.as_tensor(x).detach().double()
    grad = torch.zeros_like(x)
    flat, g = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + eps
            up = float(fn(x))
            flat[i] = old - eps
            down = float(fn(x))
            flat[i] = old
            g[i] = (up - down) / (2 * eps)
    return grad
