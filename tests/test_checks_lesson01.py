"""Lesson 01's checks accept the solution and reject the stub and realistic wrong answers."""
import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises import lesson01
from course_utils.exercises.lesson01 import buggy_kd_loss, q1, q2, q3, q4
from helpers import outcome, status


# ------------------------------------------------------------------------------------------
# q1: softmax_with_temperature
# ------------------------------------------------------------------------------------------
def good_softmax(logits, T):
    return torch.softmax(logits / T, dim=-1)


def stub(*args, **kwargs):
    raise NotImplementedError()


def test_q1_accepts_solutions():
    assert status(q1, softmax_with_temperature=good_softmax) == CORRECT
    # other correct ways of writing it
    assert status(q1, softmax_with_temperature=lambda z, T: F.softmax(z / T, -1)) == CORRECT
    def by_hand(z, T):
        e = torch.exp(z / T - (z / T).max(-1, keepdim=True).values)
        return e / e.sum(-1, keepdim=True)
    assert status(q1, softmax_with_temperature=by_hand) == CORRECT


def test_q1_not_attempted():
    assert status(q1) == NOT_ATTEMPTED
    assert status(q1, softmax_with_temperature=____) == NOT_ATTEMPTED
    assert status(q1, softmax_with_temperature=stub) == NOT_ATTEMPTED


@pytest.mark.parametrize("wrong, words", [
    (lambda z, T: torch.softmax(z * T, dim=-1), "multiply the logits by T"),
    (lambda z, T: torch.softmax(z / T, dim=0), "dim=0"),
    (lambda z, T: torch.softmax(z, dim=-1), "does not depend on T"),
    (lambda z, T: torch.softmax(z, dim=-1) / T, "probabilities"),
    (lambda z, T: torch.log_softmax(z / T, dim=-1), "log-probabilities"),
    (lambda z, T: z / T, "softmax is missing"),
])
def test_q1_names_mistakes(wrong, words):
    result = outcome(q1, softmax_with_temperature=wrong)
    assert result.status == INCORRECT
    # the message names the mistake (the expected words are not in the test's own source line,
    # which the feedback may quote)
    assert not result.message.startswith("calling"), result.message
    assert words in result.message


def test_q1_softmax_over_axis_1_fails_on_a_single_vector():
    def axis_one(z, T):
        return torch.softmax(z / T, dim=1)
    result = outcome(q1, softmax_with_temperature=axis_one)
    assert result.status == INCORRECT
    assert "IndexError" in result.message and "shape (10,)" in result.message


def test_q1_other_wrong_answers():
    # wrong in a way we have no name for: still incorrect, never "correct"
    assert status(q1, softmax_with_temperature=lambda z, T: torch.softmax(z / (T + 1), -1)) == INCORRECT
    assert status(q1, softmax_with_temperature=lambda z, T: None) == INCORRECT
    assert "return" in outcome(q1, softmax_with_temperature=lambda z, T: None).message
    assert status(q1, softmax_with_temperature=lambda z, T: good_softmax(z, T).numpy().tolist()) == INCORRECT
    assert status(q1, softmax_with_temperature=3.0) == INCORRECT
    crash = outcome(q1, softmax_with_temperature=lambda z, T: z.nonexistent)
    assert crash.status == INCORRECT and "AttributeError" in crash.message


def test_q1_cases_separate_every_mistake():
    """Each named mistake differs from the reference on some case (else it could never fire
    without also rejecting right answers)."""
    for wrong, _ in q1.mistakes:
        assert not q1._matches(wrong, q1.cases(), [q1.reference(*a, **k) for a, k in q1.cases()])


# ------------------------------------------------------------------------------------------
# q2: kd_loss
# ------------------------------------------------------------------------------------------
def good_kd(student_logits, teacher_logits, labels, T, alpha):
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    p_teacher = F.softmax(teacher_logits / T, dim=-1)
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean") * T**2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard


def test_q2_accepts_solutions():
    assert status(q2, kd_loss=good_kd) == CORRECT
    # the KL written out by hand is also right
    def by_hand(s, t, y, T, alpha):
        p = torch.softmax(t / T, -1)
        kl = (p * (torch.log(p) - torch.log_softmax(s / T, -1))).sum(-1).mean()
        return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(s, y)
    assert status(q2, kd_loss=by_hand) == CORRECT
    # and the course's reference
    from course_utils.losses import kd_loss
    assert status(q2, kd_loss=lambda s, t, y, T, a: kd_loss(s, t, y, T=T, alpha=a)) == CORRECT


def test_q2_not_attempted():
    assert status(q2) == NOT_ATTEMPTED
    assert status(q2, kd_loss=____) == NOT_ATTEMPTED
    assert status(q2, kd_loss=stub) == NOT_ATTEMPTED


def _variant(soft_scale=lambda T: T**2, reduction="batchmean", swap=False, alpha_swap=False,
             student_prob=False):
    def loss(s, t, y, T, alpha):
        if swap:
            s, t = t, s
        log_q = F.softmax(s / T, -1) if student_prob else F.log_softmax(s / T, -1)
        p = F.softmax(t / T, -1)
        soft = F.kl_div(log_q, p, reduction=reduction) * soft_scale(T)
        hard = F.cross_entropy(s if not swap else t, y)
        if alpha_swap:
            return (1 - alpha) * soft + alpha * hard
        return alpha * soft + (1 - alpha) * hard
    return loss


@pytest.mark.parametrize("wrong, words", [
    (_variant(soft_scale=lambda T: 1.0), "T²"),
    (_variant(reduction="mean"), "batchmean"),
    (_variant(swap=True), "swapped"),
    (_variant(alpha_swap=True), "alpha weighs the wrong term"),
    (_variant(student_prob=True), "log"),
    (_variant(soft_scale=lambda T: T), "multiplied by T, not T²"),
    (_variant(reduction="sum"), "sum"),
])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_q2_names_mistakes(wrong, words):
    result = outcome(q2, kd_loss=wrong)
    assert result.status == INCORRECT, result
    assert not result.message.startswith("calling"), result.message
    assert words in result.message, result.message


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_q2_other_wrong_answers():
    def soft_ce(s, t, y, T, alpha):
        p = F.softmax(t / T, -1)
        ce = -(p * F.log_softmax(s / T, -1)).sum(-1).mean()
        return alpha * T**2 * ce + (1 - alpha) * F.cross_entropy(s, y)
    assert "entropy" in outcome(q2, kd_loss=soft_ce).message
    assert status(q2, kd_loss=lambda s, t, y, T, a: good_kd(s, t, y, T, a).item()) == INCORRECT
    assert "tensor" in outcome(q2, kd_loss=lambda s, t, y, T, a: good_kd(s, t, y, T, a).item()).message
    # a per-example loss (no reduction) has the wrong shape
    def per_example(s, t, y, T, a):
        kl = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="none").sum(-1)
        return a * T**2 * kl + (1 - a) * F.cross_entropy(s, y, reduction="none")
    assert "shape" in outcome(q2, kd_loss=per_example).message
    # two mistakes at once: still incorrect
    assert status(q2, kd_loss=_variant(soft_scale=lambda T: 1.0, reduction="mean")) == INCORRECT


def test_q2_cases_separate_every_mistake():
    cases = q2.cases()
    reference = [q2.reference(*a, **k) for a, k in cases]
    for wrong, message in q2.mistakes:
        assert not q2._matches(wrong, cases, reference), message
    # and the cases have what the mistakes need
    for (s, t, y, T, alpha), _ in cases:
        assert s.shape[0] > 1 and s.shape[1] > 1 and T != 1 and alpha != 0.5


def test_q2_does_not_mutate_or_trust_inputs():
    def in_place(s, t, y, T, a):
        s.mul_(0)  # spoils its own copy only
        return good_kd(s, t, y, T, a)
    assert status(q2, kd_loss=in_place) == INCORRECT
    assert status(q2, kd_loss=good_kd) == CORRECT


# ------------------------------------------------------------------------------------------
# q3: find the bug
# ------------------------------------------------------------------------------------------
def test_q3_accepts_the_fix_and_rejects_the_bug():
    assert status(q3, fixed_kd_loss=good_kd) == CORRECT
    assert status(q3) == NOT_ATTEMPTED and status(q3, fixed_kd_loss=stub) == NOT_ATTEMPTED
    result = outcome(q3, fixed_kd_loss=buggy_kd_loss)
    assert result.status == INCORRECT and "buggy" in result.message


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_q3_rejects_wrong_fixes():
    def student_unsoftened(s, t, y, T=4.0, alpha=0.5):
        log_q = F.log_softmax(s, -1)
        p = F.softmax(t, -1)
        return alpha * F.kl_div(log_q, p, reduction="batchmean") * T**2 + (1 - alpha) * F.cross_entropy(s, y)
    assert "instead of adding it to the teacher" in outcome(q3, fixed_kd_loss=student_unsoftened).message
    def no_temperature(s, t, y, T=4.0, alpha=0.5):
        log_q = F.log_softmax(s, -1)
        p = F.softmax(t, -1)
        return alpha * F.kl_div(log_q, p, reduction="batchmean") + (1 - alpha) * F.cross_entropy(s, y)
    assert "T = 1" in outcome(q3, fixed_kd_loss=no_temperature).message
    assert "T²" in outcome(q3, fixed_kd_loss=_variant(soft_scale=lambda T: 1.0)).message
    assert "batchmean" in outcome(q3, fixed_kd_loss=_variant(reduction="mean")).message
    assert status(q3, fixed_kd_loss=_variant(swap=True)) == INCORRECT


def test_q3_bug_is_real():
    """The buggy loss is not zero for a perfect copy of the teacher at T != 1; the fix is."""
    z = torch.randn(6, 10, generator=torch.Generator().manual_seed(0)) * 3
    y = z.argmax(-1)
    assert buggy_kd_loss(z, z, y, T=4.0, alpha=1.0) > 0.1
    assert abs(float(good_kd(z, z, y, 4.0, 1.0))) < 1e-6
    assert abs(float(buggy_kd_loss(z, z, y, T=1.0, alpha=1.0))) < 1e-6


def test_q4_is_a_thought_question():
    assert q4.evaluate({}).status == "info"
    assert "T²" in q4.solution_text


def test_module_exports():
    assert set(lesson01.__all__) == {"q1", "q2", "q3", "q4", "____"}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("problem, var", [(q1, "softmax_with_temperature"), (q2, "kd_loss"),
                                          (q3, "fixed_kd_loss")], ids=["q1", "q2", "q3"])
def test_every_named_mistake_gets_its_own_message(problem, var):
    """Submitting each known wrong function yields exactly its message: no two mistakes
    coincide on the test cases, and none is hidden behind an earlier one."""
    for wrong, message in problem.mistakes:
        result = outcome(problem, **{var: wrong})
        assert result.status == INCORRECT
        assert result.message == message
