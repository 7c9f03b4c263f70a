"""Questions of lesson 03 (what students learn): fidelity, calibration, and find-the-bug."""
import copy

import torch
import torch.nn.functional as F

from ..metrics import agreement as _agreement
from ..metrics import expected_calibration_error as _ece
from .core import (CustomProblem, FunctionProblem, Incorrect, ThoughtProblem, ____,
                   assert_close, call_learner, check_unchanged, describe, snapshot, take)

__all__ = ["q1", "q2", "q3", "q4", "q5", "q6", "____"]


# ----------------------------------------------------------------------------------------
# q1: top-1 agreement
# ----------------------------------------------------------------------------------------
def _logit_cases():
    g = torch.Generator().manual_seed(3)
    cases = []
    for n in (50, 7, 200):
        s = torch.randn(n, 10, generator=g) * 2
        t = s + torch.randn(n, 10, generator=g) * 1.5   # related, but not the same
        cases.append(((s, t), {}))
    same = torch.randn(12, 4, generator=g)
    cases.append(((same, same.clone()), {}))
    # the same predictions at another scale (agreement 1, far-apart probabilities), and one example
    cases.append(((same, same * 4), {}))
    cases.append(((s[:1], t[:1]), {}))
    return cases


q1 = FunctionProblem(
    name="q1", var="top1_agreement", reference=_agreement, cases=_logit_cases,
    mistakes=[
        (lambda s, t: float((s.argmax(0) == t.argmax(0)).float().mean()),
         "you took the arg-max over dimension 0 (the examples). Each *row* is one example: "
         "take the arg-max over the classes, `dim=-1`."),
        (lambda s, t: float((s.argmax(-1) == t.argmax(-1)).sum()),
         "you return how many examples agree; we want the *share* (a number between 0 and 1)."),
        (lambda s, t: float((s.softmax(-1) - t.softmax(-1)).abs().sum(-1).mean()),
         "that measures how far apart the probabilities are; agreement only asks whether the "
         "two top-1 classes are the same."),
    ],
    hints=["`logits.argmax(dim=-1)` gives each example's predicted class.",
           "Compare the two class vectors with `==`, turn the booleans into floats and average."],
    solution="```python\ndef top1_agreement(student_logits, teacher_logits):\n"
             "    same = student_logits.argmax(dim=-1) == teacher_logits.argmax(dim=-1)\n"
             "    return same.float().mean().item()\n```",
    correct_message="agreement is label-free: it counts how often the student gives the teacher's answer.",
)


# ----------------------------------------------------------------------------------------
# q2: expected calibration error
# ----------------------------------------------------------------------------------------
def _ece_cases():
    # A known answer: four predictions with confidence 0.9 (bin 9), three of them right;
    # four with confidence ~0.6 (bin 6), two of them right.
    # ECE = 4/8 * |0.75 - 0.9| + 4/8 * |0.5 - 0.6| = 0.125
    def logits_with_confidence(p, k=3):
        other = (1 - p) / (k - 1)
        return torch.log(torch.tensor([p] + [other] * (k - 1)))
    rows = [logits_with_confidence(0.9)] * 4 + [logits_with_confidence(0.6)] * 4
    known = torch.stack(rows)
    labels = torch.tensor([0, 0, 0, 1, 0, 0, 1, 2])
    g = torch.Generator().manual_seed(5)
    cases = [((known, labels), {})]
    # a mixture: timid predictions (under-confident) and bold ones (over-confident)
    parts_x, parts_y = [], []
    for n, scale, p_right in ((150, 0.7, 0.6), (150, 6.0, 0.6), (100, 2.0, 0.5)):
        logits = torch.randn(n, 10, generator=g) * scale
        right = torch.rand(n, generator=g) < p_right
        parts_x.append(logits)
        parts_y.append(torch.where(right, logits.argmax(-1), torch.randint(0, 10, (n,), generator=g)))
    mixed_x, mixed_y = torch.cat(parts_x), torch.cat(parts_y)
    cases.append(((mixed_x, mixed_y), {}))
    cases.append(((parts_x[1], parts_y[1]), {}))
    cases.append(((mixed_x, mixed_y), {"n_bins": 5}))
    cases.append(((mixed_x[:7], mixed_y[:7]), {"n_bins": 3}))
    # two bins of 10 that 5 bins merge: confidence 0.65, all right; confidence 0.75, all wrong
    pair = torch.stack([logits_with_confidence(0.65)] * 4 + [logits_with_confidence(0.75)] * 4)
    pair_y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    cases.append(((pair, pair_y), {}))
    cases.append(((pair, pair_y), {"n_bins": 5}))
    # a confidence of exactly 1.0 (a huge logit): it belongs to the last bin, not outside them
    sure = torch.cat([torch.tensor([[60.0, 0.0, 0.0]] * 3), torch.stack([logits_with_confidence(0.55)] * 3)])
    sure_y = torch.tensor([0, 1, 2, 0, 0, 1])
    cases.append(((sure, sure_y), {}))
    return cases


def _ece_unweighted(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    idx = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    gaps = [((pred[idx == b] == labels[idx == b]).float().mean() - conf[idx == b].mean()).abs()
            for b in range(n_bins) if (idx == b).any()]
    return float(torch.stack(gaps).mean())


def _ece_signed(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    idx = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    total = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean())
    return float(abs(total))


def _ece_drops_certain(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    idx = (conf * n_bins).long()   # a confidence of 1.0 gets index n_bins: in no bin
    total = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean()).abs()
    return float(total)


def _ece_overall(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    return float(((pred == labels).float().mean() - conf.mean()).abs())


q2 = FunctionProblem(
    name="q2", var="ece", reference=_ece, cases=_ece_cases, rtol=1e-3, atol=1e-5,
    mistakes=[
        (_ece_unweighted, "you average the bins' gaps with equal weight. A bin with 3 examples "
                          "should count less than one with 300: weight each gap by the bin's share "
                          "of the examples."),
        (_ece_signed, "the gaps of over- and under-confident bins cancel out in your sum: take the "
                      "absolute value of each bin's gap *before* adding them."),
        (_ece_overall, "you compare the overall accuracy with the overall mean confidence; ECE "
                       "compares them *within each confidence bin*."),
        (_ece_drops_certain, "predictions with a confidence of exactly 1.0 fall outside your bins "
                             "(`(conf * n_bins).long()` gives them the index n_bins, so no bin "
                             "counts them). The last bin is `(1 - 1/n_bins, 1]`: it includes 1.0."),
    ],
    hints=["Confidence is the largest softmax probability of each row: `probs.max(dim=-1)` "
           "returns it and the predicted class.",
           "Bin `b` holds confidences in `(b/n_bins, (b+1)/n_bins]`: `(conf * n_bins).ceil().long() - 1`.",
           "For each non-empty bin add `count / N * |accuracy_in_bin - mean_confidence_in_bin|`."],
    solution="```python\ndef ece(logits, labels, n_bins=10):\n"
             "    conf, pred = logits.softmax(dim=-1).max(dim=-1)\n"
             "    correct = (pred == labels).float()\n"
             "    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1\n"
             "    total = 0.0\n"
             "    for b in range(n_bins):\n"
             "        in_bin = bins == b\n"
             "        if in_bin.any():\n"
             "            gap = (correct[in_bin].mean() - conf[in_bin].mean()).abs()\n"
             "            total += in_bin.float().mean() * gap\n"
             "    return float(total)\n```",
    correct_message="on the known case, ECE = 4/8·|0.75−0.90| + 4/8·|0.50−0.60| = 0.125.",
)


# ----------------------------------------------------------------------------------------
# q3: find the bug -- teacher and student swapped in the loss
# ----------------------------------------------------------------------------------------
def _kd_reference(student_logits, teacher_logits, T):
    return F.kl_div(F.log_softmax(student_logits / T, -1), F.softmax(teacher_logits / T, -1),
                    reduction="batchmean") * T * T


def _kd_swapped(student_logits, teacher_logits, T):
    return F.kl_div(F.log_softmax(teacher_logits / T, -1), F.softmax(student_logits / T, -1),
                    reduction="batchmean") * T * T


def _kd_mean(student_logits, teacher_logits, T):
    # reduction="mean", written out so that checking does not print PyTorch's warning about it
    return F.kl_div(F.log_softmax(student_logits / T, -1), F.softmax(teacher_logits / T, -1),
                    reduction="sum") / teacher_logits.numel() * T * T


def _kd_no_t2(student_logits, teacher_logits, T):
    return F.kl_div(F.log_softmax(student_logits / T, -1), F.softmax(teacher_logits / T, -1),
                    reduction="batchmean")


def _kd_cases():
    g = torch.Generator().manual_seed(11)
    out = []
    for n, c, T in ((16, 10, 4.0), (5, 3, 2.0), (32, 10, 8.0)):
        out.append(((torch.randn(n, c, generator=g) * 3, torch.randn(n, c, generator=g) * 3, T), {}))
    return out


def _check_kd_fixed(kd_loss_fixed):
    if not callable(kd_loss_fixed):
        raise Incorrect(f"`kd_loss_fixed` should be a function, but it is {describe(kd_loss_fixed)}.")
    # values, with the swapped loss (the bug) and other slips recognised
    FunctionProblem("kd_loss_fixed", _kd_reference, _kd_cases, mistakes=[
        (_kd_swapped, "this is still the bug: `F.kl_div(input, target)` wants the **student's** "
                      "log-probabilities as `input` and the **teacher's** probabilities as `target`. "
                      "Yours are the other way round, so the teacher would be pulled towards the student."),
        (_kd_mean, "the teacher and student are the right way round now, but `reduction=\"mean\"` "
                   "divides by the number of classes too: use `\"batchmean\"`."),
        (_kd_no_t2, "the arguments are fixed, but the `T * T` factor got lost."),
    ]).check_values(kd_loss_fixed=kd_loss_fixed)
    # gradients must reach the student's logits
    s = torch.randn(8, 10, requires_grad=True)
    t = torch.randn(8, 10)
    loss = call_learner(kd_loss_fixed, "kd_loss_fixed", (s, t, 4.0))
    if not torch.is_tensor(loss) or not loss.requires_grad:
        raise Incorrect("`kd_loss_fixed` must return a tensor the student can learn from (with "
                        "gradients): don't call `.item()` or wrap it in `torch.no_grad()`.")


q3 = CustomProblem(
    vars=["kd_loss_fixed"], checker=_check_kd_fixed, name="q3",
    hints=["Read the documentation of `F.kl_div(input, target)`: which of the two is in log space, "
           "and which distribution is the *target*?",
           "The target is what we want to imitate: the teacher."],
    solution="```python\ndef kd_loss_fixed(student_logits, teacher_logits, T):\n"
             "    log_p_student = F.log_softmax(student_logits / T, dim=-1)\n"
             "    p_teacher = F.softmax(teacher_logits / T, dim=-1)\n"
             "    return F.kl_div(log_p_student, p_teacher, reduction=\"batchmean\") * T * T\n```",
    correct_message="the student's log-probabilities are the input, the teacher's probabilities the target.",
)


# ----------------------------------------------------------------------------------------
# q4: find the bug -- teacher logits not detached
# ----------------------------------------------------------------------------------------
def _tiny_models(seed=0):
    g = torch.Generator().manual_seed(seed)
    student = torch.nn.Linear(6, 4)
    # a teacher with dropout, handed over in training mode: only a teacher put in eval mode
    # gives the same logits twice
    teacher = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                                  torch.nn.Linear(8, 4))
    with torch.no_grad():
        for p in list(student.parameters()) + list(teacher.parameters()):
            p.copy_(torch.randn(p.shape, generator=g))
    x = torch.randn(10, 6, generator=g)
    return student, teacher, x


def _reference_step(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(x)
    loss = _kd_reference(student(x), teacher_logits, T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _check_kd_step(kd_step):
    if not callable(kd_step):
        raise Incorrect(f"`kd_step` should be a function, but it is {describe(kd_step)}.")
    for seed in (0, 1):
        student, teacher, x = _tiny_models(seed)
        teacher_before = copy.deepcopy(teacher.state_dict())
        ref_student = copy.deepcopy(student)
        ref_teacher = copy.deepcopy(teacher)
        # the learner's optimizer holds both models' parameters, as in the buggy code: only a
        # teacher without gradients stays untouched
        params = list(student.parameters()) + list(teacher.parameters())
        optimizer = torch.optim.SGD(params, lr=0.5)
        # gradients left over from an earlier step: only `optimizer.zero_grad()` clears them
        g = torch.Generator().manual_seed(100 + seed)
        for p in student.parameters():
            p.grad = torch.randn(p.shape, generator=g)
        teacher.train()
        with torch.random.fork_rng(devices=[]):   # the notebook's random state is left alone
            torch.manual_seed(seed)
            out = call_learner(kd_step, "kd_step", (student, teacher, optimizer, x, 2.0))
        left_training = teacher.training
        grads = [p.grad for p in teacher.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
        if grads:
            raise Incorrect("the teacher received gradients: its logits were computed with autograd "
                            "on, so `loss.backward()` flowed into the teacher (and the optimizer then "
                            "changed it). Compute them under `torch.no_grad()` or call `.detach()`.")
        for name, value in teacher.state_dict().items():
            if not torch.equal(value, teacher_before[name]):
                raise Incorrect("the teacher's weights changed during the step: it must stay frozen.")
        if out is None:
            raise Incorrect("`kd_step` returned None: return the loss as a Python number (`loss.item()`).")
        ref_opt = torch.optim.SGD(list(ref_student.parameters()) + list(ref_teacher.parameters()), lr=0.5)
        expected = _reference_step(ref_student, ref_teacher, ref_opt, x, 2.0)
        try:
            assert_close(expected, out, "the returned loss", rtol=1e-4, atol=1e-6)
        except Incorrect:
            if left_training:
                raise Incorrect("the teacher is still in training mode, so its dropout changes "
                                "its logits at every call: the soft targets are noisy. Call "
                                "`teacher.eval()` before computing them.") from None
            raise
        for (name, a), b in zip(student.state_dict().items(), ref_student.state_dict().values()):
            if not torch.allclose(a, b, atol=1e-5):
                raise Incorrect("the loss is right but the student's weights did not get the same "
                                "update as ours: did you call `optimizer.zero_grad()` (gradients "
                                "left from an earlier step must not be added), `loss.backward()` "
                                "and `optimizer.step()`?")


q4 = CustomProblem(
    vars=["kd_step"], checker=_check_kd_step, name="q4",
    hints=["What does autograd do with `teacher(x)` when gradients are on? Where does "
           "`loss.backward()` send gradients?",
           "`with torch.no_grad(): teacher_logits = teacher(x)` (or `teacher(x).detach()`)."],
    solution="```python\ndef kd_step(student, teacher, optimizer, x, T):\n"
             "    teacher.eval()\n"
             "    with torch.no_grad():\n"
             "        frozen = teacher(x)\n"
             "    log_p_student = F.log_softmax(student(x) / T, dim=-1)\n"
             "    p_teacher = F.softmax(frozen / T, dim=-1)\n"
             "    loss = F.kl_div(log_p_student, p_teacher, reduction=\"batchmean\") * T * T\n"
             "    optimizer.zero_grad()\n"
             "    loss.backward()\n"
             "    optimizer.step()\n"
             "    return loss.item()\n```",
    correct_message="the teacher is frozen: no gradients, no updates, and no autograd graph to keep in memory.",
)


# ----------------------------------------------------------------------------------------
# q5: find the bug -- cached teacher logits misaligned with shuffled batches
# ----------------------------------------------------------------------------------------
def _check_cached_batches(cached_batches):
    if not callable(cached_batches):
        raise Incorrect(f"`cached_batches` should be a function, but it is {describe(cached_batches)}.")
    n, bs = 50, 8
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)   # row i is [i, i, i]
    y = torch.arange(n) % 10
    cached = torch.arange(n, dtype=torch.float32)[:, None] * 10 + torch.arange(4)   # row i: 10i..10i+3
    befores = [snapshot(v) for v in (x, y, cached)]
    out = call_learner(cached_batches, "cached_batches", (x, y, cached, bs, 0))
    call = "cached_batches(x, y, cached, batch_size=8, seed=0)"
    expected_count = -(-n // bs)
    batches = take(out, expected_count + 1, call)
    check_unchanged(cached_batches, "cached_batches", (x, y, cached), {}, befores)
    if len(batches) > expected_count:
        raise Incorrect(f"`{call}` gave more than {expected_count} batches: one epoch of {n} "
                        f"examples in batches of {bs} has {expected_count} (the last one partial). "
                        "Does its loop stop?")
    if not batches:
        raise Incorrect("`cached_batches` gave no batches.")
    seen = []
    for k, batch in enumerate(batches):
        if not isinstance(batch, (tuple, list)) or len(batch) != 3:
            raise Incorrect(f"batch {k} should be a tuple `(xb, yb, tb)`, but it is {describe(batch)}.")
        xb, yb, tb = batch
        if not all(torch.is_tensor(v) for v in (xb, yb, tb)):
            raise Incorrect(f"batch {k} should hold three tensors.")
        if not (len(xb) == len(yb) == len(tb)) or len(xb) > bs:
            raise Incorrect(f"batch {k} has {len(xb)} inputs, {len(yb)} labels and {len(tb)} rows of "
                            f"teacher logits: they must be the same size, at most batch_size={bs}.")
        rows = xb[:, 0].long()
        if not torch.equal(yb, y[rows]):
            raise Incorrect(f"in batch {k} the labels do not belong to the inputs.")
        if tb.shape[1:] != cached.shape[1:] or not torch.equal(tb, cached[rows]):
            raise Incorrect(f"in batch {k} the teacher's logits belong to *other* examples than the "
                            f"inputs: the cache is misaligned with the shuffled batch. Index the cache "
                            f"with the same indices you use for `x`.")
        seen += rows.tolist()
    if sorted(seen) != list(range(n)):
        raise Incorrect(f"one epoch should visit each of the {n} examples exactly once; yours "
                        f"visited {len(seen)} rows ({len(set(seen))} different).")
    if seen == list(range(n)):
        raise Incorrect("the batches are not shuffled: the examples come in their original order. "
                        "Draw a random permutation (seeded with `seed`).")
    again = call_learner(cached_batches, "cached_batches", (x, y, cached, bs, 0))
    again = [b[0][:, 0].long().tolist() for b in take(again, expected_count + 1, call)]
    if sum(again, []) != seen:
        raise Incorrect("the same `seed` gave a different order: use `torch.Generator().manual_seed(seed)`.")
    other = call_learner(cached_batches, "cached_batches", (x, y, cached, bs, 1))
    other = [b[0][:, 0].long().tolist() for b in take(other, expected_count + 1, call)]
    if sum(other, []) == seen:
        raise Incorrect("`seed=1` gave the same order as `seed=0`: the order should come from the "
                        "`seed` argument (`torch.Generator().manual_seed(seed)`), not a fixed seed.")


q5 = CustomProblem(
    vars=["cached_batches"], checker=_check_cached_batches, name="q5",
    hints=["The bug slices the cache by batch number (`cached[start:start + batch_size]`) while "
           "the inputs are picked by a shuffled index.",
           "Use the same index tensor `idx` for `x[idx]`, `y[idx]` and `cached[idx]`."],
    solution="```python\ndef cached_batches(x, y, cached, batch_size, seed):\n"
             "    g = torch.Generator().manual_seed(seed)\n"
             "    perm = torch.randperm(len(x), generator=g)\n"
             "    for i in range(0, len(perm), batch_size):\n"
             "        rows = perm[i:i + batch_size]\n"
             "        yield x[rows], y[rows], cached[rows]\n```",
    correct_message="each batch now carries its own examples' teacher logits. "
                    "`course_utils.train.distill` does exactly this.",
)


q6 = ThoughtProblem(
    name="q6",
    solution="With `alpha = 1` the whole loss is the KL term, so writing `\"mean\"` instead of "
             "`\"batchmean\"` multiplies the loss, and every gradient, by 1/C (C = 10 classes). "
             "Adam divides each gradient by a running estimate of its own size, so a constant "
             "factor cancels out: the run is (almost) the same. With SGD the same mistake would "
             "divide the learning rate by 10. When the KL term is *mixed* with cross-entropy "
             "(`alpha < 1`), the factor changes the balance between the two terms: `alpha = 0.9` "
             "with `\"mean\"` is really a soft weight of about 0.47, a different experiment from "
             "the one you meant to run.",
)
