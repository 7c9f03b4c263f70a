"""Lesson 03's checks accept the solution and reject the stub, each find-the-bug mutant, and
realistic wrong answers."""
import torch
import torch.nn.functional as F

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson03 import q1, q2, q3, q4, q5, q6
from helpers import outcome, status


def _not_implemented(*args, **kwargs):
    raise NotImplementedError()


# -- q1: top-1 agreement ------------------------------------------------------------------
def agreement_ok(s, t):
    return (s.argmax(dim=-1) == t.argmax(dim=-1)).float().mean().item()


def test_q1_agreement():
    assert status(q1, top1_agreement=agreement_ok) == CORRECT
    assert status(q1, top1_agreement=_not_implemented) == NOT_ATTEMPTED
    assert status(q1) == NOT_ATTEMPTED and status(q1, top1_agreement=____) == NOT_ATTEMPTED
    assert "dimension 0" in outcome(q1, top1_agreement=lambda s, t: (s.argmax(0) == t.argmax(0)).float().mean()).message
    assert "share" in outcome(q1, top1_agreement=lambda s, t: (s.argmax(-1) == t.argmax(-1)).sum().item()).message
    assert status(q1, top1_agreement=lambda s, t: (s.argmax(-1) != t.argmax(-1)).float().mean()) == INCORRECT
    assert status(q1, top1_agreement=lambda s, t: None) == INCORRECT
    assert status(q1, top1_agreement=0.5) == INCORRECT


# -- q2: ECE -------------------------------------------------------------------------------
def ece_ok(logits, labels, n_bins=10):
    conf, pred = logits.softmax(dim=-1).max(dim=-1)
    correct = (pred == labels).float()
    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.float().mean() * (correct[m].mean() - conf[m].mean()).abs()
    return float(total)


def test_q2_ece():
    assert status(q2, ece=ece_ok) == CORRECT
    assert status(q2, ece=_not_implemented) == NOT_ATTEMPTED

    def unweighted(logits, labels, n_bins=10):
        conf, pred = logits.softmax(-1).max(-1)
        bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
        gaps = [((pred[bins == b] == labels[bins == b]).float().mean() - conf[bins == b].mean()).abs()
                for b in range(n_bins) if (bins == b).any()]
        return float(sum(gaps) / len(gaps))

    def signed(logits, labels, n_bins=10):
        conf, pred = logits.softmax(-1).max(-1)
        bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
        total = 0.0
        for b in range(n_bins):
            m = bins == b
            if m.any():
                total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean())
        return float(abs(total))

    def ignores_n_bins(logits, labels, n_bins=10):
        return ece_ok(logits, labels, 10)

    def true_class_confidence(logits, labels, n_bins=10):
        probs = logits.softmax(-1)
        conf = probs.gather(1, labels[:, None])[:, 0]
        pred = probs.argmax(-1)
        bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
        total = 0.0
        for b in range(n_bins):
            m = bins == b
            if m.any():
                total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean()).abs()
        return float(total)

    assert "equal weight" in outcome(q2, ece=unweighted).message
    assert "cancel" in outcome(q2, ece=signed).message
    assert status(q2, ece=ignores_n_bins) == INCORRECT
    assert status(q2, ece=true_class_confidence) == INCORRECT


# -- q3: swapped teacher and student ---------------------------------------------------------
def kd_fixed(s, t, T):
    return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T * T


def test_q3_swapped_mutant_rejected():
    assert status(q3, kd_loss_fixed=kd_fixed) == CORRECT
    assert status(q3, kd_loss_fixed=_not_implemented) == NOT_ATTEMPTED
    swapped = lambda s, t, T: F.kl_div(F.log_softmax(t / T, -1), F.softmax(s / T, -1), reduction="batchmean") * T * T
    assert "still the bug" in outcome(q3, kd_loss_fixed=swapped).message
    mean = lambda s, t, T: F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="mean") * T * T
    assert "batchmean" in outcome(q3, kd_loss_fixed=mean).message
    no_t2 = lambda s, t, T: F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    assert "T * T" in outcome(q3, kd_loss_fixed=no_t2).message
    no_grad = lambda s, t, T: kd_fixed(s, t, T).detach()
    assert "gradients" in outcome(q3, kd_loss_fixed=no_grad).message
    # softmax over the wrong axis
    wrong_axis = lambda s, t, T: F.kl_div(F.log_softmax(s / T, 0), F.softmax(t / T, 0), reduction="batchmean") * T * T
    assert status(q3, kd_loss_fixed=wrong_axis) == INCORRECT


# -- q4: teacher logits not detached ---------------------------------------------------------
def _loss(s, t, T):
    return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T * T


def step_ok(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    loss = _loss(student(x), t, T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_detach(student, teacher, optimizer, x, T):
    teacher.eval()
    loss = _loss(student(x), teacher(x).detach(), T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_not_detached(student, teacher, optimizer, x, T):    # the bug itself
    teacher.eval()
    t = teacher(x)
    loss = _loss(student(x), t, T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_zero_grad(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    for p in student.parameters():            # stale gradients from "a previous step"
        p.grad = torch.ones_like(p)
    loss = _loss(student(x), t, T)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_return(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    loss = _loss(student(x), t, T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def step_swapped(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    loss = _loss(t, student(x), T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_q4_not_detached_mutant_rejected():
    assert status(q4, kd_step=step_ok) == CORRECT
    assert status(q4, kd_step=step_detach) == CORRECT

    def detach_in_train_mode(student, teacher, optimizer, x, T):   # dropout stays on
        loss = _loss(student(x), teacher(x).detach(), T)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    assert "training mode" in outcome(q4, kd_step=detach_in_train_mode).message
    assert status(q4, kd_step=_not_implemented) == NOT_ATTEMPTED
    assert "teacher received gradients" in outcome(q4, kd_step=step_not_detached).message
    assert "update" in outcome(q4, kd_step=step_no_zero_grad).message
    assert "None" in outcome(q4, kd_step=step_no_return).message
    assert status(q4, kd_step=step_swapped) == INCORRECT


# -- q5: cached logits misaligned with shuffled batches --------------------------------------------
def batches_ok(x, y, cached, batch_size, seed):
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx], cached[idx]


def batches_misaligned(x, y, cached, batch_size, seed):     # the bug itself
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx], cached[start:start + batch_size]


def batches_unshuffled(x, y, cached, batch_size, seed):
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size], cached[start:start + batch_size]


def batches_drop_last(x, y, cached, batch_size, seed):
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx], cached[idx]


def batches_unseeded(x, y, cached, batch_size, seed):
    order = torch.randperm(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx], cached[idx]


def batches_labels_unshuffled(x, y, cached, batch_size, seed):
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[start:start + batch_size], cached[idx]


def test_q5_misaligned_cache_mutant_rejected():
    assert status(q5, cached_batches=batches_ok) == CORRECT
    assert status(q5, cached_batches=lambda *a: list(batches_ok(*a))) == CORRECT
    assert status(q5, cached_batches=_not_implemented) == NOT_ATTEMPTED
    assert "misaligned" in outcome(q5, cached_batches=batches_misaligned).message
    assert "not shuffled" in outcome(q5, cached_batches=batches_unshuffled).message
    assert "exactly once" in outcome(q5, cached_batches=batches_drop_last).message
    assert "labels" in outcome(q5, cached_batches=batches_labels_unshuffled).message
    torch.manual_seed(0)
    assert "seed" in outcome(q5, cached_batches=batches_unseeded).message
    assert status(q5, cached_batches=lambda *a: None) == INCORRECT


def test_q6_is_a_thought_question():
    assert q6.evaluate({}).status == "info"
