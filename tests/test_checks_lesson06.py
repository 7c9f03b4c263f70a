"""Lesson 06's checks accept the solution and reject the stub and realistic wrong answers."""
import torch
import torch.nn.functional as F

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson06 import kd_loss_buggy, q1, q2, q3, q4
from helpers import outcome, status


def masked_forward_kl(student_logits, teacher_logits, mask):
    log_s = F.log_softmax(student_logits, dim=-1)
    log_t = F.log_softmax(teacher_logits, dim=-1)
    per_position = (log_t.exp() * (log_t - log_s)).sum(-1)
    mask = mask.float()
    return (per_position * mask).sum() / mask.sum()


def test_q1_masked_forward_kl():
    assert status(q1, masked_forward_kl=masked_forward_kl) == CORRECT
    # the same through F.kl_div
    def via_kl_div(s, t, mask):
        per = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), reduction="none", log_target=True).sum(-1)
        return per[mask].mean()
    assert status(q1, masked_forward_kl=via_kl_div) == CORRECT
    assert status(q1, masked_forward_kl=____) == NOT_ATTEMPTED

    def no_mask(s, t, mask):
        return masked_forward_kl(s, t, torch.ones_like(mask))
    assert "padding and prompt" in outcome(q1, masked_forward_kl=no_mask).message
    assert "reverse KL" in outcome(q1, masked_forward_kl=lambda s, t, m: masked_forward_kl(t, s, m)).message

    def by_all(s, t, mask):
        log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
        return ((log_t.exp() * (log_t - log_s)).sum(-1) * mask).sum() / mask.numel()
    assert "mask.sum()" in outcome(q1, masked_forward_kl=by_all).message

    def vocab_mean(s, t, mask):
        log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
        return ((log_t.exp() * (log_t - log_s)).mean(-1) * mask).sum() / mask.sum()
    assert "vocabulary too" in outcome(q1, masked_forward_kl=vocab_mean).message
    # a batchmean-style sum over positions divided by batch size
    def batchmean(s, t, mask):
        log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
        return ((log_t.exp() * (log_t - log_s)).sum(-1) * mask).sum() / s.shape[0]
    assert status(q1, masked_forward_kl=batchmean) == INCORRECT


def topk_forward_kl(student_logits, teacher_logits, k):
    values, indices = teacher_logits.topk(k, dim=-1)
    p = F.softmax(values, dim=-1)
    log_q = F.log_softmax(student_logits, dim=-1).gather(-1, indices)
    return (p * (p.log() - log_q)).sum(-1).mean()


def test_q2_topk():
    assert status(q2, topk_forward_kl=topk_forward_kl) == CORRECT
    assert status(q2, topk_forward_kl=____) == NOT_ATTEMPTED

    def no_renorm(s, t, k):
        p_t = F.softmax(t, -1)
        vals, idx = p_t.topk(k, -1)
        return (vals * (vals.log() - F.log_softmax(s, -1).gather(-1, idx))).sum(-1).mean()
    assert "renormalise them" in outcome(q2, topk_forward_kl=no_renorm).message

    def student_renorm(s, t, k):
        vals, idx = t.topk(k, -1)
        p = F.softmax(vals, -1)
        return (p * (p.log() - F.log_softmax(s.gather(-1, idx), -1))).sum(-1).mean()
    assert "*teacher* only" in outcome(q2, topk_forward_kl=student_renorm).message

    def full(s, t, k):
        log_s, log_t = F.log_softmax(s, -1), F.log_softmax(t, -1)
        return (log_t.exp() * (log_t - log_s)).sum(-1).mean()
    assert "full forward KL" in outcome(q2, topk_forward_kl=full).message
    # the student's top k instead of the teacher's
    assert status(q2, topk_forward_kl=lambda s, t, k: topk_forward_kl(t, s, k)) == INCORRECT


def kd_loss_fixed(student_logits, teacher_logits):
    log_p_s = F.log_softmax(student_logits, dim=-1)
    p_t = F.softmax(teacher_logits, dim=-1)
    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()


def test_q3_find_the_bug():
    assert status(q3, kd_loss_fixed=kd_loss_fixed) == CORRECT
    # a float cannot be back-propagated: the loss must stay a tensor
    assert "tensor" in outcome(q3, kd_loss_fixed=lambda s, t: kd_loss_fixed(s, t).item()).message
    assert status(q3, kd_loss_fixed=____) == NOT_ATTEMPTED
    assert "still the buggy" in outcome(q3, kd_loss_fixed=kd_loss_buggy).message

    def half(s, t):
        log_p_s = F.log_softmax(s, dim=-1)
        p_t = F.softmax(t, dim=1)
        return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()
    assert "teacher's softmax still" in outcome(q3, kd_loss_fixed=half).message

    def half2(s, t):
        log_p_s = F.log_softmax(s, dim=1)
        p_t = F.softmax(t, dim=-1)
        return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()
    assert "student's log-softmax still" in outcome(q3, kd_loss_fixed=half2).message
    assert "swapped the direction" in outcome(q3, kd_loss_fixed=lambda s, t: kd_loss_fixed(t, s)).message
    # summing over positions instead of averaging
    assert status(q3, kd_loss_fixed=lambda s, t: kd_loss_fixed(s, t) * s.shape[1]) == INCORRECT


def test_q4_is_a_thought_question():
    assert q4.evaluate({}).status == "info"
