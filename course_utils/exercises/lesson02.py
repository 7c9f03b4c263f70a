"""Questions of lesson 02 (first distillation)."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..losses import kd_loss
from .core import (CustomProblem, FunctionProblem, Incorrect, NotAttempted, ThoughtProblem, ____,
                   as_real, call_learner, describe, format_call)

__all__ = ["q0", "q1", "q2", "q3", "q4", "____"]


# ---------------------------------------------------------------------------------------
# q1: mean and std of the paired differences
# ---------------------------------------------------------------------------------------
def _paired_gain(results):
    if type(results) is not dict or "KD" not in results or "scratch" not in results:
        raise Incorrect("`results` should be the dict from the multi-seed cell, with the keys "
                        "'scratch' and 'KD'. Re-run that cell.")
    kd = np.asarray(results["KD"], dtype=float) * 100
    scratch = np.asarray(results["scratch"], dtype=float) * 100
    if kd.shape != scratch.shape or len(kd) < 2:
        raise Incorrect("`results['KD']` and `results['scratch']` need the same seeds, at least two.")
    return kd, scratch


def _check_q1(results, gain_mean, gain_std):
    kd, scratch = _paired_gain(results)
    diff = kd - scratch
    mean, std = as_real(gain_mean, "gain_mean"), as_real(gain_std, "gain_std")
    close = lambda a, b: abs(a - b) <= 1e-6 + 1e-4 * abs(b)
    # the notebook prints the mean gain with two decimals: a value read off that line is right
    close_printed = lambda a, b: close(a, b) or abs(a - b) <= 0.005 + 1e-9
    if "KD (short)" in results and "scratch (short)" in results:
        short = (np.asarray(results["KD (short)"], dtype=float)
                 - np.asarray(results["scratch (short)"], dtype=float)) * 100
        if len(short) == len(diff) and close(mean, short.mean()) and not close(mean, diff.mean()):
            raise Incorrect("`gain_mean` is the gain of the **short** runs; the exercise asks "
                            "for the long ones (keys 'KD' and 'scratch').")
    if close(mean, -diff.mean()) and not close(mean, diff.mean()):
        raise Incorrect("`gain_mean` has the wrong sign: the gain is KD minus scratch.")
    if close(mean, diff.mean() / 100) and not close(mean, diff.mean()):
        raise Incorrect("`gain_mean` looks like a fraction; give it in percentage points "
                        "(multiply the accuracies by 100).")
    if not close_printed(mean, diff.mean()):
        raise Incorrect(f"`gain_mean` has the wrong value ({mean:.4g}): average, over the seeds, "
                        "of (KD accuracy − scratch accuracy), in percentage points.")
    if close(std, diff.std(ddof=0)) and not close(std, diff.std(ddof=1)):
        raise Incorrect("`gain_std` divides by n: with a handful of seeds use the sample standard "
                        "deviation (`ddof=1`, divide by n − 1), as `stats.mean_std` does.")
    if close(std, abs(kd.std(ddof=1) - scratch.std(ddof=1))) and not close(std, diff.std(ddof=1)):
        raise Incorrect("`gain_std` is the difference of the two standard deviations. We want "
                        "the spread of the per-seed differences.")
    if close(std, (diff / 100).std(ddof=1)) and not close(std, diff.std(ddof=1)):
        raise Incorrect("`gain_std` looks like a fraction; give it in percentage points.")
    if not close(std, diff.std(ddof=1)):
        raise Incorrect(f"`gain_std` has the wrong value ({std:.4g}): the standard deviation "
                        "(ddof=1) of the per-seed differences.")


q1 = CustomProblem(
    name="q1",
    vars=["results", "gain_mean", "gain_std"],
    checker=_check_q1,
    hints=["Turn `results['KD']` and `results['scratch']` into NumPy arrays, multiply by 100 and "
           "subtract them: one difference per seed (the same seed gave both students the same "
           "initial weights and batch order).",
           "`diff.mean()` and `diff.std(ddof=1)`."],
    solution="```python\nkd = np.array(results['KD']) * 100\nscratch = np.array(results['scratch']) * 100\n"
             "diff = kd - scratch\ngain_mean, gain_std = diff.mean(), diff.std(ddof=1)\n```",
    correct_message="the paired t-test below divides `gain_mean` by `gain_std / sqrt(n)`: a gain "
                    "is convincing when it is large compared with its seed-to-seed spread.",
)


# ---------------------------------------------------------------------------------------
# q2: the transfer set without 3s (a mask on the labels)
# ---------------------------------------------------------------------------------------
def _train_labels():
    from ..data import load_mnist1d
    return load_mnist1d().y_train


def _check_q2(no3_mask):
    y = _train_labels()
    if type(no3_mask) is np.ndarray:
        no3_mask = torch.from_numpy(no3_mask)
    if type(no3_mask) is not torch.Tensor:
        raise Incorrect(f"`no3_mask` should be a tensor of True/False, one per training example, "
                        f"but it is {describe(no3_mask)}.")
    if no3_mask.dim() != 1 or len(no3_mask) != len(y):
        n_test = int(round(len(y) / 4))
        extra = " (that is the size of the test set: build it from `data.y_train`)" \
            if len(no3_mask) == n_test else ""
        raise Incorrect(f"`no3_mask` should have shape ({len(y)},), one entry per training "
                        f"example, but it has shape {tuple(no3_mask.shape)}{extra}.")
    if no3_mask.dtype != torch.bool:
        raise Incorrect(f"`no3_mask` has dtype {str(no3_mask.dtype).replace('torch.', '')}; "
                        "a mask for indexing must be boolean (a comparison such as `y != 3` gives one).")
    if torch.equal(no3_mask, y == 3):
        raise Incorrect("`no3_mask` keeps only the 3s. We want every example *except* the 3s.")
    if not torch.equal(no3_mask, y != 3):
        wrong = int((no3_mask != (y != 3)).sum())
        raise Incorrect(f"`no3_mask` is wrong for {wrong} training examples: it should be True "
                        "exactly where the label is not 3.")


q2 = CustomProblem(
    name="q2",
    vars=["no3_mask"],
    checker=_check_q2,
    hints=["Compare the training labels with 3: the result is a tensor of True/False.",
           "`data.y_train != 3`."],
    solution="```python\nno3_mask = data.y_train != 3\n```",
    correct_message="indexing with it (`x[no3_mask]`) keeps the rows where it is True.",
)


# ---------------------------------------------------------------------------------------
# q3: raise one class's logit
# ---------------------------------------------------------------------------------------
def _raise_logit(logits, cls, shift):
    out = logits.clone()
    out[:, cls] = out[:, cls] + shift
    return out


def _row_instead(logits, cls, shift):
    out = logits.clone()
    out[cls] = out[cls] + shift
    return out


def _every_logit(logits, cls, shift):
    return logits + shift


def _times(logits, cls, shift):
    out = logits.clone()
    out[:, cls] = out[:, cls] * shift
    return out


def _set(logits, cls, shift):
    out = logits.clone()
    out[:, cls] = shift
    return out


def _neighbour(logits, cls, shift):
    out = logits.clone()
    out[:, cls - 1] += shift
    return out


def _cases():
    # column != row index, negative shifts, the first and the last class, a square batch
    # (rows and columns alike), and a single example
    g = torch.Generator().manual_seed(2)
    return [((torch.randn(8, 10, generator=g), 3, 3.5), {}),
            ((torch.randn(9, 10, generator=g), 7, -1.25), {}),
            ((torch.randn(5, 4, generator=g), 0, 2.0), {}),
            ((torch.randn(10, 10, generator=g), 9, 0.75), {}),
            ((torch.randn(1, 6, generator=g), 0, 1.5), {})]


q3 = FunctionProblem(
    var="raise_logit",
    name="q3",
    reference=_raise_logit,
    cases=_cases,
    mistakes=[(_row_instead, "you raised a *row* (one example's logits). Each row is an example and "
                             "each column a class: raise column `cls`, i.e. `logits[:, cls]`."),
              (_every_logit, "you added the shift to every logit: softmax does not change when all "
                             "logits move together. Only class `cls` should move."),
              (_times, "you multiplied the logit by the shift. A bias is *added* to the logit."),
              (_set, "you *replaced* the logit by the shift; add the shift to it."),
              (_neighbour, "you raised the column next to `cls` (`cls - 1`): columns are "
                           "numbered from 0, so class `cls` is column `cls`.")],
    hints=["Rows are examples, columns are classes. Work on a copy: `out = logits.clone()`.",
           "`out[:, cls] += shift`, then `return out`."],
    solution="```python\ndef raise_logit(logits, cls, shift):\n    out = logits.clone()\n"
             "    out[:, cls] += shift\n    return out\n```",
    correct_message="adding `shift` to the bias of output unit `cls` does exactly this to every "
                    "example's logits.",
)


# ---------------------------------------------------------------------------------------
# q4: why did the short run not help?
# ---------------------------------------------------------------------------------------
q4 = ThoughtProblem(
    name="q4",
    solution=(
        "Three things, all visible in this notebook. (1) **The student is not short of labels, it "
        "is short of capacity and of data.** A 64-unit MLP cannot represent the teacher's function "
        "(the CNN is translation-aware, the MLP is not), and on 4,000 examples it overfits the hard "
        "labels quickly: more epochs barely help the scratch student. (2) **Matching a teacher is a "
        "harder target than fitting labels**, so it needs a longer schedule: at the short budget the "
        "distilled student is still climbing when the learning rate reaches zero; at the long budget "
        "it keeps improving while the scratch student does not (Beyer et al. 2022, arXiv:2106.05237, "
        "call this a *patient* teacher). (3) **The soft targets are only informative where the "
        "teacher is queried.** On the 4,000 training inputs the teacher is almost always right "
        "and confident, so its soft targets say little more than the labels. On fresh inputs (the "
        "unlabeled transfer set) every query is new information, which is why that variant helps "
        "most — and why distilling through an API works at all. Lesson 03 looks at what the student "
        "copies (fidelity, calibration) and at the capacity gap."),
)


# ---------------------------------------------------------------------------------------
# q0: one distillation step (the body of course_utils.train.distill's loop)
# ---------------------------------------------------------------------------------------
def _step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _inline(student, optimizer, x, rows, teacher_logits, labels, T, alpha, *, t_squared=True,
            reduction="batchmean", detach=True, swap=False):
    """The step with the loss written out, so that one piece can be got wrong."""
    s, t = student(x), teacher_logits[rows]
    if detach:
        t = t.detach()
    if swap:
        s, t = t, s
    log_p, q = F.log_softmax(s / T, -1), F.softmax(t / T, -1)
    if reduction == "mean":   # the mistake, computed without PyTorch's warning about it
        soft = F.kl_div(log_p, q, reduction="sum") / q.numel()
    else:
        soft = F.kl_div(log_p, q, reduction=reduction)
    if t_squared:
        soft = soft * T * T
    loss = alpha * soft + (1 - alpha) * F.cross_entropy(student(x) if swap else s, labels[rows])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _no_zero_grad(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_before_backward(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    optimizer.step()
    loss.backward()
    return loss.item()


def _first_rows(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    n = len(x)
    loss = kd_loss(student(x), teacher_logits[:n], labels[:n], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _default_t_alpha(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(student(x), teacher_logits[rows], labels[rows])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _swapped_kd(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    loss = kd_loss(teacher_logits[rows], student(x), labels[rows], T=T, alpha=alpha)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _alpha_swapped(student, optimizer, x, rows, teacher_logits, labels, T, alpha):
    return _step(student, optimizer, x, rows, teacher_logits, labels, T, 1 - alpha)


_STEP_MISTAKES = [
    (lambda *a: _inline(*a, t_squared=False),
     "the soft term is missing its factor `T**2`: its gradients shrink like 1/T² (lesson 01). "
     "Use lesson 01's `kd_loss`."),
    (lambda *a: _inline(*a, reduction="mean"),
     "the KL term uses `reduction='mean'`, which also divides by the number of classes; the "
     "true KL is `'batchmean'` (lesson 01). Use `kd_loss`."),
    (lambda *a: _inline(*a, swap=True),
     "teacher and student are swapped: the student's *log*-probabilities come first, the "
     "teacher's probabilities are the target (`kd_loss(student_logits, teacher_logits, ...)`)."),
    (_swapped_kd,
     "teacher and student are swapped: `kd_loss(student_logits, teacher_logits, ...)` takes the "
     "student's logits first (the teacher's are detached, so here the student learns nothing)."),
    (_no_zero_grad,
     "the gradients of the previous step are still there: call `optimizer.zero_grad()` before "
     "`loss.backward()`, or every step adds the old gradients to the new ones."),
    (_step_before_backward,
     "`optimizer.step()` runs before `loss.backward()`, so it steps with no (or old) gradients: "
     "compute the loss, `zero_grad()`, `backward()`, then `step()`."),
    (_first_rows,
     "the batch takes the *first* rows of the stored logits, not its own: the loader shuffles, "
     "so index them with the batch's row numbers, `teacher_logits[rows]` (and `labels[rows]`)."),
    (_default_t_alpha,
     "`T` and `alpha` are not passed on: `kd_loss(..., T=T, alpha=alpha)`, not its defaults."),
    (_alpha_swapped,
     "`alpha` weighs the soft (teacher) term and `1 - alpha` the hard labels, not the other way."),
]


def _step_case(seed, T, alpha):
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):   # leave the notebook's random state alone
        torch.manual_seed(seed)
        student = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU(),
                                      torch.nn.Linear(12, 5))
    for p in student.parameters():   # gradients left over from a previous step
        p.grad = torch.randn(p.shape, generator=g)
    n = 24
    cache = (torch.randn(n, 5, generator=g) * 3).requires_grad_(True)
    labels = torch.randint(0, 5, (n,), generator=g)
    rows = torch.randperm(n, generator=g)[:8]
    x = torch.randn(8, 6, generator=g)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    return (student, optimizer, x, rows, cache, labels, T, alpha)


_STEP_CASES = [(0, 2.0, 0.7), (1, 5.0, 0.3)]


def _after(fn, case, learner=False):
    """Run one step on a fresh case: (returned loss, parameters after, cache got gradients)."""
    args = _step_case(*case)
    student, cache = args[0], args[4]
    if learner:
        out = call_learner(fn, "distill_step", args)
    else:
        out = fn(*args)
    params = [p.detach().clone() for p in student.parameters()]
    return out, params, cache.grad is not None and bool(cache.grad.abs().sum() > 0)


def _same(a, b) -> bool:
    loss_a, params_a, _ = a
    loss_b, params_b, _ = b
    return math.isclose(loss_a, loss_b, rel_tol=1e-4, abs_tol=1e-6) and \
        all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(params_a, params_b))


def _loss_value(out, args_text):
    if out is None:
        raise Incorrect(f"`{args_text}` returned None. Did you forget `return loss.item()`?")
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        return float(out.detach())
    if isinstance(out, bool) or not isinstance(out, (int, float)):
        raise Incorrect(f"`distill_step` should return the batch's loss as a float "
                        f"(`loss.item()`), but it returned {describe(out)}.")
    return float(out)


def _check_q0(distill_step):
    if not callable(distill_step) or isinstance(distill_step, type):
        raise Incorrect(f"`distill_step` should be a function, but it is {describe(distill_step)}.")
    for case in _STEP_CASES:
        shown = format_call("distill_step", _step_case(*case), {})
        # The reference first: torch's one-time start-up (the first backward and optimizer
        # step of a process take seconds) is not charged to the learner's time limit.
        expected = _after(_step, case)
        try:
            out, params, cache_grad = _after(distill_step, case, learner=True)
        except NotAttempted:
            raise
        except Incorrect as error:
            if "does not require grad" in str(error):
                raise Incorrect("the loss has no gradient with respect to the student: are "
                                "teacher and student swapped? `kd_loss(student(x), "
                                "teacher_logits[rows], ...)` -- the student comes first.")
            raise
        mine = (_loss_value(out, shown), params, cache_grad)
        if _same(expected, mine) and not cache_grad:
            continue
        if _same(expected, mine):
            raise Incorrect("gradients flowed into the stored teacher logits: the teacher is a "
                            "fixed target, so detach it (`kd_loss` does) or compute it without "
                            "gradients.")
        for wrong, message in _STEP_MISTAKES:
            try:
                if _same(_after(wrong, case), mine):
                    raise Incorrect(message)
            except Incorrect:
                raise
            except Exception:  # a mistake that cannot even run on this case
                continue
        if math.isclose(expected[0], mine[0], rel_tol=1e-4, abs_tol=1e-6):
            raise Incorrect(f"for `{shown}` the loss is right but the student's parameters after "
                            "the step are not: one `zero_grad()`, `backward()`, `step()`.")
        raise Incorrect(f"for `{shown}` the returned loss is wrong ({mine[0]:.6g}): "
                        "`kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)`.")


q0 = CustomProblem(
    name="q0",
    vars=["distill_step"],
    checker=_check_q0,
    hints=["The loader gives each batch its inputs `x` and their row numbers `rows`: the batch's "
           "teacher logits are `teacher_logits[rows]`, its labels `labels[rows]`.",
           "`loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)`, "
           "then `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`, and "
           "`return loss.item()`."],
    solution="```python\ndef distill_step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):\n"
             "    loss = kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)\n"
             "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
             "    return loss.item()\n```",
    correct_message="that is the whole of distillation's inner loop: `course_utils.train.distill` "
                    "runs exactly this step on every batch of every epoch.",
)
