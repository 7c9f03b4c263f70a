"""Lesson 02's checks accept the solution and reject the stub and realistic wrong answers."""
import numpy as np
import torch

from course_utils.data import load_mnist1d
from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson02 import q1, q2, q3, q4
from helpers import outcome, status

RESULTS = {"scratch": [0.571, 0.556, 0.585], "KD": [0.594, 0.602, 0.597]}


def test_q1_paired_difference():
    diff = (np.array(RESULTS["KD"]) - np.array(RESULTS["scratch"])) * 100
    ok = dict(results=RESULTS, gain_mean=diff.mean(), gain_std=diff.std(ddof=1))
    assert status(q1, **ok) == CORRECT
    assert status(q1, results=RESULTS, gain_mean=float(diff.mean()), gain_std=float(diff.std(ddof=1))) == CORRECT
    assert status(q1, results=RESULTS, gain_mean=____, gain_std=____) == NOT_ATTEMPTED
    assert "ddof=1" in outcome(q1, results=RESULTS, gain_mean=diff.mean(), gain_std=diff.std()).message
    assert "sign" in outcome(q1, results=RESULTS, gain_mean=-diff.mean(), gain_std=diff.std(ddof=1)).message
    assert "fraction" in outcome(q1, results=RESULTS, gain_mean=diff.mean() / 100,
                                 gain_std=diff.std(ddof=1) / 100).message
    sd_diff = abs(np.std(np.array(RESULTS["KD"]) * 100, ddof=1) - np.std(np.array(RESULTS["scratch"]) * 100, ddof=1))
    assert "difference of the two standard deviations" in outcome(
        q1, results=RESULTS, gain_mean=diff.mean(), gain_std=sd_diff).message
    assert status(q1, results=RESULTS, gain_mean="2.6", gain_std=1.0) == INCORRECT
    assert status(q1, results={"a": [1]}, gain_mean=1.0, gain_std=1.0) == INCORRECT


def test_q2_mask_without_threes():
    y = load_mnist1d().y_train
    assert status(q2, no3_mask=y != 3) == CORRECT
    assert status(q2, no3_mask=(y != 3).numpy()) == CORRECT
    assert status(q2, no3_mask=____) == NOT_ATTEMPTED and status(q2) == NOT_ATTEMPTED
    assert "only the 3s" in outcome(q2, no3_mask=y == 3).message
    assert "boolean" in outcome(q2, no3_mask=(y != 3).float()).message
    y_test = load_mnist1d().y_test
    assert "test set" in outcome(q2, no3_mask=y_test != 3).message
    assert status(q2, no3_mask=y != 2) == INCORRECT
    assert status(q2, no3_mask=[True, False]) == INCORRECT


def _raise(logits, cls, shift):
    out = logits.clone()
    out[:, cls] += shift
    return out


def test_q3_raise_the_right_logit():
    assert status(q3, raise_logit=_raise) == CORRECT

    def stub(logits, cls, shift):
        raise NotImplementedError()
    assert status(q3, raise_logit=stub) == NOT_ATTEMPTED

    def row(logits, cls, shift):
        out = logits.clone()
        out[cls] += shift
        return out
    assert "row" in outcome(q3, raise_logit=row).message

    def every(logits, cls, shift):
        return logits + shift
    assert "every logit" in outcome(q3, raise_logit=every).message

    def no_return(logits, cls, shift):
        logits[:, cls] += shift
    assert "return" in outcome(q3, raise_logit=no_return).message

    def times(logits, cls, shift):
        out = logits.clone()
        out[:, cls] *= shift
        return out
    assert "multiplied" in outcome(q3, raise_logit=times).message
    assert status(q3, raise_logit=lambda l, c, s: l) == INCORRECT
    assert status(q3, raise_logit=3.5) == INCORRECT


def test_q4_is_a_thought_question():
    assert q4.evaluate({}).status == "info"
    assert "capacity" in q4.solution_text


# ---------------------------------------------------------------------------------------
# q0: one distillation step
# ---------------------------------------------------------------------------------------
import torch.nn.functional as F  # noqa: E402

from course_utils.exercises.lesson02 import q0  # noqa: E402
from course_utils.losses import kd_loss  # noqa: E402


def step_solution(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_written_out(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    """Right, written another way: the loss by hand, no_grad teacher, a tensor returned."""
    student.train()
    with torch.no_grad():
        p_teacher = torch.softmax(teacher_logits[rows] / T, dim=1)
    s = student(x)
    soft = F.kl_div(F.log_softmax(s / T, dim=1), p_teacher, reduction="sum") / len(x) * T ** 2
    loss = alpha * soft + (1 - alpha) * F.cross_entropy(s, labels[rows])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def step_stub(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    raise NotImplementedError()


def _by_hand(t_squared=True, reduction="batchmean", detach=True):
    def step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
        t = teacher_logits[rows]
        t = t.detach() if detach else t
        s = student(x)
        log_p, q = F.log_softmax(s / T, -1), F.softmax(t / T, -1)
        soft = F.kl_div(log_p, q, reduction="sum") / (len(s) if reduction == "batchmean" else q.numel())
        loss = alpha * soft * (T * T if t_squared else 1) + (1 - alpha) * F.cross_entropy(s, labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def step_no_zero_grad(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_swapped(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(teacher_logits[rows], student(x), labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_first_rows(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[:len(x)], labels[:len(x)], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_before_backward(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    optimizer.step()
    loss.backward()
    return loss.item()


def step_defaults(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_return(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def step_no_step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def test_q0_distill_step():
    assert status(q0, distill_step=step_solution) == CORRECT
    assert status(q0, distill_step=step_written_out) == CORRECT
    assert status(q0, distill_step=step_stub) == NOT_ATTEMPTED
    assert status(q0, distill_step=____) == NOT_ATTEMPTED and status(q0) == NOT_ATTEMPTED
    assert "T**2" in outcome(q0, distill_step=_by_hand(t_squared=False)).message
    assert "batchmean" in outcome(q0, distill_step=_by_hand(reduction="mean")).message
    assert "detach" in outcome(q0, distill_step=_by_hand(detach=False)).message
    assert "zero_grad" in outcome(q0, distill_step=step_no_zero_grad).message
    assert "swapped" in outcome(q0, distill_step=step_swapped).message
    assert "rows" in outcome(q0, distill_step=step_first_rows).message
    assert "before `loss.backward()`" in outcome(q0, distill_step=step_before_backward).message
    assert "T=T, alpha=alpha" in outcome(q0, distill_step=step_defaults).message
    assert "return" in outcome(q0, distill_step=step_no_return).message
    assert status(q0, distill_step=step_no_step) == INCORRECT
    assert status(q0, distill_step=42) == INCORRECT
