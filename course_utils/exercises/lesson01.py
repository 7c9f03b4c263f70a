"""Questions of lesson 01 (soft targets): temperature, the KD loss, and a bug hunt.

The test inputs are seeded and chosen so that each named mistake changes the value: batches
of more than one example and more than one class (``mean`` vs ``batchmean``, softmax over the
wrong axis), temperatures other than 1 (the T**2 factor), alpha other than 1/2 (alpha on the
wrong term).
"""
import warnings

import torch
import torch.nn.functional as F

from ..losses import kd_loss as _kd_loss
from ..losses import softmax_with_temperature as _softmax_T
from .core import FunctionProblem, ThoughtProblem, ____

__all__ = ["q1", "q2", "q3", "q4", "____"]


def _logits(seed: int, *shape: int, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


# ------------------------------------------------------------------------------------------
# q1: softmax with temperature
# ------------------------------------------------------------------------------------------
def _q1_cases():
    return [
        ((_logits(1, 4, 10), 2.0), {}),        # a batch of 4 examples, 10 classes
        ((_logits(2, 10), 5.0), {}),           # one vector
        ((_logits(3, 2, 3, 7), 0.5), {}),      # (batch, positions, classes), T < 1 sharpens
        ((_logits(4, 6, 5), 4.0), {}),
    ]


q1 = FunctionProblem(
    name="q1",
    var="softmax_with_temperature",
    reference=lambda logits, T: _softmax_T(logits, T),
    cases=_q1_cases,
    mistakes=[
        (lambda z, T: torch.softmax(z * T, dim=-1),
         "you multiply the logits by T. Divide them by T: a temperature above 1 should make the "
         "distribution *softer* (flatter), and multiplying makes it sharper."),
        (lambda z, T: torch.softmax(z / T, dim=0),
         "your softmax runs over the first axis (dim=0), across the examples of the batch. "
         "Each example's probabilities must sum to 1 over its classes: use the last axis, dim=-1."),
        (lambda z, T: torch.softmax(z, dim=-1),
         "your result does not depend on T: it is the ordinary softmax. Divide the logits by T "
         "before the softmax."),
        (lambda z, T: torch.softmax(z, dim=-1) / T,
         "you divide the *probabilities* by T, so they no longer sum to 1. Divide the logits "
         "by T, then take the softmax."),
        (lambda z, T: torch.log_softmax(z / T, dim=-1),
         "you return log-probabilities (log_softmax). This function should return probabilities."),
        (lambda z, T: z / T,
         "you return the scaled logits `logits / T`: the softmax is missing."),
    ],
    hints=["Temperature divides the logits: `softmax(logits / T)`.",
           "Use `torch.softmax(..., dim=-1)`: the classes are on the last axis, whatever the "
           "number of leading (batch) axes."],
    solution="```python\ndef softmax_with_temperature(logits, T):\n"
             "    return torch.softmax(logits / T, dim=-1)\n```",
    correct_message="at T = 1 it is the ordinary softmax; above 1 the small probabilities grow.",
)


# ------------------------------------------------------------------------------------------
# q2: the distillation loss
# ------------------------------------------------------------------------------------------
def _kd_cases():
    cases = []
    # (seed, batch, classes, T, alpha): batch > 1, classes > 1, T != 1, alpha != 1/2
    for seed, n, c, T, alpha in [(11, 8, 10, 4.0, 0.7), (12, 5, 7, 2.0, 0.3),
                                 (13, 16, 10, 8.0, 0.9), (14, 3, 4, 1.5, 0.2)]:
        student = _logits(seed, n, c, scale=2.0)
        teacher = _logits(seed + 100, n, c, scale=4.0)
        labels = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed + 200))
        cases.append(((student, teacher, labels, T, alpha), {}))
    return cases


def _quiet_kl(log_input, target, reduction):
    with warnings.catch_warnings():  # 'mean' warns that it is not the true KL
        warnings.simplefilter("ignore")
        return F.kl_div(log_input, target, reduction=reduction)


def _parts(s, t, y, T):
    log_q = F.log_softmax(s / T, dim=-1)
    p = F.softmax(t / T, dim=-1)
    return log_q, p, F.cross_entropy(s, y)


def _no_T2(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    return a * F.kl_div(log_q, p, reduction="batchmean") + (1 - a) * hard


def _times_T(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    return a * F.kl_div(log_q, p, reduction="batchmean") * T + (1 - a) * hard


def _mean(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    return a * _quiet_kl(log_q, p, "mean") * T**2 + (1 - a) * hard


def _sum(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    return a * F.kl_div(log_q, p, reduction="sum") * T**2 + (1 - a) * hard


def _swapped(s, t, y, T, a):
    hard = F.cross_entropy(s, y)
    kl = F.kl_div(F.log_softmax(t / T, -1), F.softmax(s / T, -1), reduction="batchmean")
    return a * kl * T**2 + (1 - a) * hard


def _alpha_swapped(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    return (1 - a) * F.kl_div(log_q, p, reduction="batchmean") * T**2 + a * hard


def _softmax_input(s, t, y, T, a):
    _, p, hard = _parts(s, t, y, T)
    kl = F.kl_div(F.softmax(s / T, -1), p, reduction="batchmean")
    return a * kl * T**2 + (1 - a) * hard


def _soft_ce(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    ce = -(p * log_q).sum(-1).mean()
    return a * ce * T**2 + (1 - a) * hard


def _teacher_not_softened(s, t, y, T, a):
    log_q, _, hard = _parts(s, t, y, T)
    kl = F.kl_div(log_q, F.softmax(t, -1), reduction="batchmean")
    return a * kl * T**2 + (1 - a) * hard


def _student_not_softened(s, t, y, T, a):
    _, p, hard = _parts(s, t, y, T)
    kl = F.kl_div(F.log_softmax(s, -1), p, reduction="batchmean")
    return a * kl * T**2 + (1 - a) * hard


def _hard_softened(s, t, y, T, a):
    log_q, p, _ = _parts(s, t, y, T)
    kl = F.kl_div(log_q, p, reduction="batchmean")
    return a * kl * T**2 + (1 - a) * F.cross_entropy(s / T, y)


def _soft_only(s, t, y, T, a):
    log_q, p, _ = _parts(s, t, y, T)
    return a * F.kl_div(log_q, p, reduction="batchmean") * T**2


def _no_alpha_mix(s, t, y, T, a):
    log_q, p, hard = _parts(s, t, y, T)
    return F.kl_div(log_q, p, reduction="batchmean") * T**2 + hard


_MSG_NO_T2 = ("the soft term is missing its factor T². The gradient of the softened KL shrinks "
              "like 1/T², so without T² the soft term fades as T grows: multiply it by `T**2`.")
_MSG_MEAN = ("the KL uses `reduction=\"mean\"`, which divides by the number of classes as well "
             "as the batch size. Use `reduction=\"batchmean\"` (sum over classes, mean over "
             "examples): that is the real KL divergence.")
_MSG_SWAPPED = ("teacher and student are swapped in the KL. `F.kl_div(input, target)` wants the "
                "*student's* log-probabilities as `input` and the *teacher's* probabilities as "
                "`target`: it computes KL(target ‖ input's distribution).")
_MSG_ALPHA = ("alpha weighs the wrong term. Here `alpha` is the weight of the soft (teacher) term "
              "and `1 - alpha` the weight of the cross-entropy on hard labels.")
_MSG_SOFTMAX_INPUT = ("the student's input to `F.kl_div` is a softmax. `F.kl_div` expects "
                      "*log*-probabilities as its first argument: use `F.log_softmax`.")
_MSG_SOFT_CE = ("you compute the cross-entropy with the teacher's soft targets, not the KL. Its "
                "gradient is the same, but its value is larger by the teacher's entropy (so it is "
                "not zero when the student matches the teacher). Use `F.kl_div`.")
_MSG_TEACHER_T = ("the teacher's logits are not divided by T: both distributions must be "
                  "softened with the same temperature.")
_MSG_STUDENT_T = ("the student's logits are not divided by T in the soft term: both "
                  "distributions must be softened with the same temperature.")
_MSG_HARD_T = ("the cross-entropy on hard labels uses the softened student logits. The hard "
               "term uses the ordinary logits (T = 1): that is what the student is tested with.")


q2 = FunctionProblem(
    name="q2",
    var="kd_loss",
    reference=lambda s, t, y, T, a: _kd_loss(s, t, y, T=T, alpha=a),
    cases=_kd_cases,
    mistakes=[
        (_no_T2, _MSG_NO_T2),
        (_times_T, "the soft term is multiplied by T, not T². The gradient of the softened KL "
                   "shrinks like 1/T², so it needs `T**2`."),
        (_mean, _MSG_MEAN),
        (_sum, "the KL uses `reduction=\"sum\"`, which grows with the batch size. Use "
               "`reduction=\"batchmean\"` so the loss is an average over examples."),
        (_swapped, _MSG_SWAPPED),
        (_alpha_swapped, _MSG_ALPHA),
        (_softmax_input, _MSG_SOFTMAX_INPUT),
        (_soft_ce, _MSG_SOFT_CE),
        (_teacher_not_softened, _MSG_TEACHER_T),
        (_student_not_softened, _MSG_STUDENT_T),
        (_hard_softened, _MSG_HARD_T),
        (_soft_only, "the hard-label term `(1 - alpha) * cross_entropy(student_logits, labels)` "
                     "is missing."),
        (_no_alpha_mix, "the two terms are added without weights: multiply the soft term by "
                        "`alpha` and the hard term by `1 - alpha`."),
    ],
    hints=["Three pieces: `F.log_softmax(student_logits / T, dim=-1)`, "
           "`F.softmax(teacher_logits / T, dim=-1)`, and "
           "`F.kl_div(student_log_probs, teacher_probs, reduction=\"batchmean\")`.",
           "Multiply the KL by `T**2`; then return `alpha * soft + (1 - alpha) * "
           "F.cross_entropy(student_logits, labels)`."],
    solution="```python\ndef kd_loss(student_logits, teacher_logits, labels, T, alpha):\n"
             "    log_p_student = F.log_softmax(student_logits / T, dim=-1)\n"
             "    p_teacher = F.softmax(teacher_logits / T, dim=-1)\n"
             "    soft = F.kl_div(log_p_student, p_teacher, reduction=\"batchmean\") * T**2\n"
             "    hard = F.cross_entropy(student_logits, labels)\n"
             "    return alpha * soft + (1 - alpha) * hard\n```",
    correct_message="this is `course_utils.losses.kd_loss`, the loss of Hinton et al. (2015) "
                    "that the rest of the course uses.",
)


# ------------------------------------------------------------------------------------------
# q3: find the bug (the buggy function is shown in the notebook as `buggy_kd_loss`)
# ------------------------------------------------------------------------------------------
def buggy_kd_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.5):
    """The function shown in the lesson, bug included (the teacher is not softened)."""
    student_log_probs = F.log_softmax(student_logits / T, dim=-1)
    teacher_probs = F.softmax(teacher_logits, dim=-1)
    distill_term = T**2 * F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")
    label_term = F.cross_entropy(student_logits, labels)
    return alpha * distill_term + (1 - alpha) * label_term


q3 = FunctionProblem(
    name="q3",
    var="fixed_kd_loss",
    reference=lambda s, t, y, T, a: _kd_loss(s, t, y, T=T, alpha=a),
    cases=_kd_cases,
    mistakes=[
        (lambda s, t, y, T, a: buggy_kd_loss(s, t, y, T, a),
         "this still gives the buggy function's values. Compare how the student's and the "
         "teacher's logits are turned into distributions."),
        (lambda s, t, y, T, a: a * T**2 * F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1),
                                                   reduction="batchmean") + (1 - a) * F.cross_entropy(s, y),
         "you removed the temperature from the student instead of adding it to the teacher. Now "
         "neither distribution is softened (no dark knowledge), yet the T² factor still scales "
         "the term up."),
        (lambda s, t, y, T, a: a * F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1),
                                            reduction="batchmean") + (1 - a) * F.cross_entropy(s, y),
         "you removed the temperature everywhere: this is KD at T = 1. Keep T, and soften both "
         "distributions with it."),
        (_student_not_softened, _MSG_STUDENT_T),
        (_no_T2, "the teacher is softened now, but the T² factor went missing on the way."),
        (_mean, _MSG_MEAN),
        (_swapped, _MSG_SWAPPED),
        (_softmax_input, _MSG_SOFTMAX_INPUT),
        (_soft_ce, _MSG_SOFT_CE),
        (_alpha_swapped, _MSG_ALPHA),
    ],
    hints=["Call it with identical student and teacher logits and `alpha=1`: a correct KD loss "
           "is zero then, at every T. Is the buggy one?",
           "Look at the line that makes `teacher_probs`, and compare it with the line above."],
    solution="The teacher was not softened. The fix is one line:\n\n```python\n"
             "def fixed_kd_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.5):\n"
             "    student_log_probs = F.log_softmax(student_logits / T, dim=-1)\n"
             "    teacher_probs = F.softmax(teacher_logits / T, dim=-1)   # was: teacher_logits\n"
             "    distill_term = T**2 * F.kl_div(student_log_probs, teacher_probs, reduction=\"batchmean\")\n"
             "    label_term = F.cross_entropy(student_logits, labels)\n"
             "    return alpha * distill_term + (1 - alpha) * label_term\n```\n\n"
             "With the bug, the student's *softened* outputs are pulled towards the teacher's "
             "*unsoftened* ones, which pushes the student's logits towards T times the teacher's: "
             "an over-confident student that never sees the small probabilities the temperature "
             "was meant to bring out.",
    correct_message="both distributions are now softened by the same T.",
)


# ------------------------------------------------------------------------------------------
# q4: a thought question
# ------------------------------------------------------------------------------------------
q4 = ThoughtProblem(
    name="q4",
    solution="Without T², the soft term's gradients shrink like 1/T²: at T = 8 they are roughly "
             "T² = 64 times smaller than at T = 1 (compare the first column of the table in "
             "section 4 at T = 1 and T = 8). The hard-label term has no temperature, so its "
             "gradients keep their size. With alpha = 0.5 the two terms look equally weighted on "
             "paper, but in the gradient the hard labels dominate: the student learns mostly from "
             "the labels and the teacher's dark knowledge is nearly ignored. Worse, changing T "
             "silently changes the effective balance, so a sweep over T is also a sweep over the "
             "weight. Multiplying by T² keeps the soft term's gradient roughly the same size "
             "whatever T is, so alpha means what it says (Hinton, Vinyals & Dean 2015, "
             "arXiv:1503.02531, section 2).",
)
