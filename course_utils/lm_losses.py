"""Token-level distillation losses for language models (lessons 06-08).

A causal LM predicts a distribution over the vocabulary at every position, so the loss
compares two distributions *per token* and averages over the tokens that count:

* ``forward_kl``      KL(p_teacher || p_student): the student must put mass wherever the
  teacher does (mode covering; Hinton et al. 2015, arXiv:1503.02531);
* ``reverse_kl``      KL(p_student || p_teacher): the student may drop some of the
  teacher's modes but is punished for mass where the teacher has none (mode seeking;
  MiniLLM, Gu et al. 2024, arXiv:2306.08543);
* ``generalized_jsd`` the generalised Jensen-Shannon divergence of GKD (Agarwal et al. 2024,
  arXiv:2306.13649) with mixture ``M = beta * p_teacher + (1 - beta) * p_student``:
  ``beta * KL(p_teacher || M) + (1 - beta) * KL(p_student || M)``; it interpolates between the
  two (for small beta it behaves like ``beta * forward KL``, near 1 like ``(1-beta) * reverse
  KL``) and is bounded;
* ``topk_kl``         forward KL against the teacher's k most likely tokens only,
  renormalised to sum to 1 -- what a provider's API exposes (``top_logprobs``). The student
  keeps its softmax over the *whole* vocabulary, so mass it puts outside the teacher's top k
  is still penalised (with k = 1 this is cross-entropy on the teacher's greedy token).

Every loss takes logits of shape ``(batch, length, vocab)`` (any leading shape works),
a temperature ``T`` (both distributions are softened by ``T``; the result is multiplied by
``T**2`` as in Hinton et al., so gradient sizes do not depend on ``T``) and a ``mask`` of
shape ``(batch, length)``: 1/True for the positions that count, 0/False for padding or
prompt positions. The result is the mean over the positions that count.

``lm_kd_loss`` picks one of them by name and can mix in the ordinary next-token
cross-entropy on the labels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
KINDS = ("forward", "reverse", "jsd", "topk")


def _check(student_logits, teacher_logits, T):
    if not (torch.is_tensor(student_logits) and torch.is_tensor(teacher_logits)):
        raise TypeError("student_logits and teacher_logits must be torch tensors.")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"The student's logits {tuple(student_logits.shape)} and the teacher's "
                         f"{tuple(teacher_logits.shape)} must have the same shape (same tokenizer, "
                         "same positions).")
    if not T > 0:
        raise ValueError(f"The temperature must be positive, got T={T}.")


def _f(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits are upcast to float32; float32 and float64 are kept as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is true (all of them if None).

    With an all-zero mask the result is 0 (not NaN), so a batch of pure padding is harmless.
    """
    if mask is None:
        return values.mean()
    if mask.shape != values.shape:
        raise ValueError(f"The mask has shape {tuple(mask.shape)}, but there are "
                         f"{tuple(values.shape)} token positions.")
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def mask_from_labels(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """True where a label is a real token, False where it is ``ignore_index`` (-100)."""
    return labels != ignore_index


def _per_token_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) at every position, summed over the vocabulary (last axis)."""
    p = log_p.exp()
    # 0 * log 0 = 0: where p is exactly zero, the term vanishes even if log_q is -inf.
    terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
    return terms.sum(-1)


def forward_kl(student_logits, teacher_logits, mask=None, T: float = 1.0) -> torch.Tensor:
    """``T**2 * mean over masked positions of KL(p_teacher || p_student)``.

    Taught in lesson 06.
    """
    _check(student_logits, teacher_logits, T)
    log_s = F.log_softmax(_f(student_logits) / T, dim=-1)
    log_t = F.log_softmax(_f(teacher_logits.detach()) / T, dim=-1)
    return masked_mean(_per_token_kl(log_t, log_s), mask) * (T * T)


def reverse_kl(student_logits, teacher_logits, mask=None, T: float = 1.0) -> torch.Tensor:
    """``T**2 * mean over masked positions of KL(p_student || p_teacher)``.

    Taught in lesson 06.
    """
    _check(student_logits, teacher_logits, T)
    log_s = F.log_softmax(_f(student_logits) / T, dim=-1)
    log_t = F.log_softmax(_f(teacher_logits.detach()) / T, dim=-1)
    return masked_mean(_per_token_kl(log_s, log_t), mask) * (T * T)


def generalized_jsd(student_logits, teacher_logits, beta: float = 0.5, mask=None,
                    T: float = 1.0) -> torch.Tensor:
    """GKD's generalised JSD: ``beta*KL(p_t || M) + (1-beta)*KL(p_s || M)``, ``M = beta*p_t + (1-beta)*p_s``.

    ``beta`` must lie strictly between 0 and 1 (at 0 or 1 the divergence is identically 0;
    use ``forward_kl`` or ``reverse_kl`` instead).

    Taught in lesson 06.
    """
    _check(student_logits, teacher_logits, T)
    if not 0.0 < beta < 1.0:
        raise ValueError(f"beta must be strictly between 0 and 1, got {beta}. For the end points "
                         "use forward_kl (teacher-weighted) or reverse_kl (student-weighted).")
    log_s = F.log_softmax(_f(student_logits) / T, dim=-1)
    log_t = F.log_softmax(_f(teacher_logits.detach()) / T, dim=-1)
    log_m = torch.logsumexp(torch.stack([log_t + math.log(beta), log_s + math.log(1.0 - beta)]), dim=0)
    per_token = beta * _per_token_kl(log_t, log_m) + (1.0 - beta) * _per_token_kl(log_s, log_m)
    return masked_mean(per_token, mask) * (T * T)


def topk_teacher(teacher_logits: torch.Tensor, k: int, T: float = 1.0):
    """The teacher's ``k`` most likely tokens and their probabilities renormalised over those k.

    Returns ``(indices, probs)``, each of shape ``(..., k)``: what an API returning
    ``top_logprobs=k`` lets you reconstruct.
    """
    vocab = teacher_logits.shape[-1]
    if not (isinstance(k, int) and 1 <= k <= vocab):
        raise ValueError(f"k must be an integer between 1 and the vocabulary size {vocab}, got {k!r}.")
    values, indices = _f(teacher_logits.detach()).topk(k, dim=-1)
    return indices, torch.softmax(values / T, dim=-1)


def topk_kl(student_logits, teacher_logits, k: int, mask=None, T: float = 1.0) -> torch.Tensor:
    """Forward KL from the teacher's top-k tokens (renormalised) to the student's full softmax.

    ``sum_{i in top k} p~_t(i) * (log p~_t(i) - log p_s(i))`` where ``p~_t`` is the teacher's
    distribution restricted to its k most likely tokens and renormalised, and ``p_s`` the
    student's softmax over the whole vocabulary. ``teacher_logits`` may also be passed as a
    pair ``(indices, values)`` of top-k logits (as cached from an API).

    Taught in lesson 06.
    """
    if isinstance(teacher_logits, (tuple, list)):
        indices, values = teacher_logits
        if indices.shape[-1] < k:
            raise ValueError(f"Only {indices.shape[-1]} teacher logits per token were given; k={k}.")
        values, order = _f(values.detach()).topk(k, dim=-1)
        indices = indices.gather(-1, order)
        probs = torch.softmax(values / T, dim=-1)
        if not T > 0:
            raise ValueError(f"The temperature must be positive, got T={T}.")
    else:
        _check(student_logits, teacher_logits, T)
        indices, probs = topk_teacher(teacher_logits, k, T)
    log_s = F.log_softmax(_f(student_logits) / T, dim=-1).gather(-1, indices)
    terms = torch.where(probs > 0, probs * (probs.clamp_min(1e-30).log() - log_s), torch.zeros_like(probs))
    return masked_mean(terms.sum(-1), mask) * (T * T)


def next_token_ce(logits: torch.Tensor, labels: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean cross-entropy of already-aligned ``logits`` (..., V) and ``labels`` (...).

    Positions labelled ``IGNORE_INDEX`` (or mask 0) are ignored.
    """
    per_token = F.cross_entropy(_f(logits).reshape(-1, logits.shape[-1]),
                                labels.reshape(-1).clamp_min(0), reduction="none").reshape(labels.shape)
    keep = mask_from_labels(labels)
    if mask is not None:
        keep = keep & mask.bool()
    return masked_mean(per_token, keep)


def lm_kd_loss(student_logits, teacher_logits, labels=None, kind: str = "forward", T: float = 1.0,
               alpha: float = 1.0, beta: float = 0.5, k: int | None = None, mask=None) -> torch.Tensor:
    """One of the token-level losses by name, optionally mixed with cross-entropy.

    ``alpha * divergence + (1 - alpha) * CE(student, labels)``. The logits and the labels must
    already be aligned (position t predicts labels[t]); ``shift_for_lm`` does that for the
    outputs of a causal LM. Positions labelled ``IGNORE_INDEX`` are masked out of both terms.

    Taught in lesson 06.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if labels is not None:
        label_mask = mask_from_labels(labels)
        mask = label_mask if mask is None else (label_mask & mask.bool())
    if kind == "forward":
        soft = forward_kl(student_logits, teacher_logits, mask, T)
    elif kind == "reverse":
        soft = reverse_kl(student_logits, teacher_logits, mask, T)
    elif kind == "jsd":
        soft = generalized_jsd(student_logits, teacher_logits, beta, mask, T)
    else:
        if k is None:
            raise ValueError("kind='topk' needs k, the number of teacher tokens kept.")
        soft = topk_kl(student_logits, teacher_logits, k, mask, T)
    if labels is None or alpha >= 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * next_token_ce(student_logits, labels, mask)


def shift_for_lm(logits: torch.Tensor, labels: torch.Tensor, *others):
    """Align a causal LM's outputs with its targets: position t predicts token t+1.

    Returns ``logits[:, :-1]``, ``labels[:, 1:]`` and ``other[:, :-1]`` for each other tensor
    (e.g. the teacher's logits). transformers' models do this shift inside their own loss.
    """
    out = [logits[:, :-1], labels[:, 1:]] + [o[:, :-1] for o in others]
    return tuple(out)
