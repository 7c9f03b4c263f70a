"""Questions of lesson 06 (token-level distillation)."""
import torch
import torch.nn.functional as F

from ..lm_losses import forward_kl, reverse_kl, topk_kl
from .core import FunctionProblem, ThoughtProblem, ____

__all__ = ["q1", "q2", "q3", "q4", "kd_loss_buggy", "____"]


def _logit_cases(with_mask: bool, k=None):
    g = torch.Generator().manual_seed(11)
    cases = []
    for shape in ((2, 5, 9), (3, 4, 13), (1, 6, 7)):
        s = torch.randn(*shape, generator=g) * 2
        t = torch.randn(*shape, generator=g) * 2
        if with_mask:
            mask = torch.rand(shape[:2], generator=g) > 0.4
            mask[0, 0] = True
            mask[-1, -1] = False
            cases.append(((s, t, mask), {}))
            if shape[0] > 1:   # one sequence with nothing to count (all padding)
                empty = mask.clone()
                empty[-1] = False
                cases.append(((s, t, empty), {}))
        else:
            cases.append(((s, t, k if k is not None else 3), {}))
    return cases


# -- q1: token-level forward KL with a mask ----------------------------------------------------
def _q1_reference(student_logits, teacher_logits, mask):
    return forward_kl(student_logits, teacher_logits, mask)


def _ignores_mask(s, t, mask):
    return forward_kl(s, t)


def _divides_by_all(s, t, mask):
    log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
    per = (log_t.exp() * (log_t - log_s)).sum(-1)
    return (per * mask).sum() / mask.numel()


def _per_sequence(s, t, mask):
    log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
    per = (log_t.exp() * (log_t - log_s)).sum(-1)
    m = mask.float()
    return ((per * m).sum(-1) / m.sum(-1).clamp(min=1)).mean()


def _mean_over_vocab(s, t, mask):
    log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
    per = (log_t.exp() * (log_t - log_s)).mean(-1)
    return (per * mask).sum() / mask.sum()


q1 = FunctionProblem(
    name="q1",
    var="masked_forward_kl",
    reference=_q1_reference,
    cases=lambda: _logit_cases(with_mask=True),
    rtol=1e-4, atol=1e-6,
    mistakes=[
        (_ignores_mask, "your loss averages over every position, padding and prompt included: "
                        "average only where `mask` is True."),
        (lambda s, t, m: reverse_kl(s, t, m), "that is the reverse KL, KL(student || teacher). Forward KL "
                                              "weighs by the *teacher's* probabilities."),
        (_divides_by_all, "you zeroed the masked positions but divided by the number of *all* positions; "
                          "divide by the number of positions that count (`mask.sum()`)."),
        (_mean_over_vocab, "sum over the vocabulary (that is the KL at one position), then average over "
                           "the positions; you averaged over the vocabulary too."),
        (_per_sequence, "you average each sequence first, then the sequences: a short sequence then "
                        "weighs as much as a long one. Average over all counted positions of the "
                        "batch together: `(per_position * mask).sum() / mask.sum()`."),
    ],
    hints=["Per position: `(p_t * (log_p_t - log_p_s)).sum(-1)` with `log_softmax` on the last axis.",
           "Then `(per_position * mask).sum() / mask.sum()`: the mask is boolean, multiply after "
           "`mask.float()` if you like."],
    solution="```python\ndef masked_forward_kl(student_logits, teacher_logits, mask):\n"
             "    log_s = F.log_softmax(student_logits, dim=-1)\n"
             "    log_t = F.log_softmax(teacher_logits, dim=-1)\n"
             "    per_position = (log_t.exp() * (log_t - log_s)).sum(-1)\n"
             "    mask = mask.float()\n"
             "    return (per_position * mask).sum() / mask.sum()\n```",
)


# -- q2: top-k renormalised loss ---------------------------------------------------------------
def _q2_reference(student_logits, teacher_logits, k):
    return topk_kl(student_logits, teacher_logits, k)


def _no_renorm(s, t, k):
    p_t = F.softmax(t, -1)
    vals, idx = p_t.topk(k, -1)
    log_s = F.log_softmax(s, -1).gather(-1, idx)
    return (vals * (vals.log() - log_s)).sum(-1).mean()


def _student_topk(s, t, k):
    vals, idx = s.topk(k, -1)
    p = F.softmax(t.gather(-1, idx), -1)
    log_q = F.log_softmax(s, -1).gather(-1, idx)
    return (p * (p.log() - log_q)).sum(-1).mean()


def _summed(s, t, k):
    return topk_kl(s, t, k) * s.shape[0] * s.shape[1]


def _student_renorm(s, t, k):
    vals, idx = t.topk(k, -1)
    p = F.softmax(vals, -1)
    log_q = F.log_softmax(s.gather(-1, idx), -1)
    return (p * (p.log() - log_q)).sum(-1).mean()


q2 = FunctionProblem(
    name="q2",
    var="topk_forward_kl",
    reference=_q2_reference,
    cases=lambda: _logit_cases(with_mask=False, k=3) + [(c[0][:2] + (1,), {}) for c in _logit_cases(False)],
    rtol=1e-4, atol=1e-6,
    mistakes=[
        (_no_renorm, "the teacher's top-k probabilities do not add up to 1: renormalise them over the k "
                     "tokens (a softmax of the k logits does it)."),
        (_student_renorm, "renormalise the *teacher* only. The student keeps its softmax over the whole "
                          "vocabulary, so the mass it puts outside the teacher's top k is still penalised "
                          "(with k=1 your version is always 0)."),
        (lambda s, t, k: forward_kl(s, t), "that is the full forward KL: it uses the teacher's whole "
                                           "distribution, which an API does not give you."),
        (_student_topk, "you took the *student's* top k tokens; the API gives the *teacher's* top k: "
                        "use `teacher_logits.topk(k, dim=-1)`."),
        (_summed, "you summed over the positions; average over them (`.mean()`)."),
    ],
    hints=["`values, indices = teacher_logits.topk(k, dim=-1)`; `p = F.softmax(values, -1)`.",
           "`log_q = F.log_softmax(student_logits, -1).gather(-1, indices)`, then "
           "`(p * (p.log() - log_q)).sum(-1).mean()`."],
    solution="```python\ndef topk_forward_kl(student_logits, teacher_logits, k):\n"
             "    values, indices = teacher_logits.topk(k, dim=-1)\n"
             "    p = F.softmax(values, dim=-1)\n"
             "    log_q = F.log_softmax(student_logits, dim=-1).gather(-1, indices)\n"
             "    return (p * (p.log() - log_q)).sum(-1).mean()\n```",
)


# -- q3: find the bug --------------------------------------------------------------------------
def kd_loss_buggy(student_logits, teacher_logits):
    """Forward KL per token, averaged over all positions. There is one bug (in two places)."""
    log_p_s = F.log_softmax(student_logits, dim=1)
    p_t = F.softmax(teacher_logits, dim=1)
    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()


def _half_fixed(s, t):
    log_p_s = F.log_softmax(s, dim=-1)
    p_t = F.softmax(t, dim=1)
    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()


def _half_fixed2(s, t):
    log_p_s = F.log_softmax(s, dim=1)
    p_t = F.softmax(t, dim=-1)
    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()


q3 = FunctionProblem(
    name="q3",
    var="kd_loss_fixed",
    reference=lambda s, t: forward_kl(s, t),
    cases=lambda: [(c[0][:2], {}) for c in _logit_cases(False)],
    rtol=1e-4, atol=1e-6,
    mistakes=[
        (kd_loss_buggy, "this is still the buggy loss: look at which axis each softmax normalises."),
        (_half_fixed, "the student's log-softmax is fixed, but the teacher's softmax still normalises "
                      "over the wrong axis."),
        (_half_fixed2, "the teacher's softmax is fixed, but the student's log-softmax still normalises "
                       "over the wrong axis."),
        (lambda s, t: reverse_kl(s, t), "you fixed the axis but swapped the direction: this is "
                                        "KL(student || teacher)."),
    ],
    hints=["The logits have shape (batch, length, vocab). Which axis is `dim=1`?",
           "A probability distribution over next tokens sums to 1 over the *vocabulary*: `dim=-1`."],
    solution="Both softmaxes used `dim=1`, the sequence axis: each 'distribution' summed to 1 over the "
             "positions of a sequence instead of over the vocabulary. The loss still decreases and "
             "looks plausible, which is why this bug survives.\n\n"
             "```python\ndef kd_loss_fixed(student_logits, teacher_logits):\n"
             "    log_p_s = F.log_softmax(student_logits, dim=-1)\n"
             "    p_t = F.softmax(teacher_logits, dim=-1)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n```",
)

q4 = ThoughtProblem(
    name="q4",
    solution="With top-k logits the student learns the teacher's ranking of its few best guesses; "
             "with k = 1 only its greedy choice, which is training on the teacher's own text (the "
             "sequence-level KD of lesson 07). An API that returns `top_logprobs` therefore leaks "
             "more than one that returns text: compare the k = 1 and k = 20 rows of the table. "
             "This is one reason providers cap or remove log-probabilities (lesson 11).",
)
