"""The classification training loop of Part I: ``fit``, ``distill``, ``evaluate`` (lessons 01-04).

One loop, :func:`train_loop`, takes the loss as a function of each batch; everything that
trains a classifier in the course is built on it:

* :func:`fit` -- cross-entropy on hard labels (the teachers, the students from scratch);
* :func:`distill` -- against stored teacher logits (computed once, as someone distilling
  through an API stores the answers), with labels optional: lesson 02's loop;
* :func:`distill_live` -- the teacher runs on every batch, for when the batches change
  (augmentation) or the teacher's outputs are not stored;
* :func:`course_utils.feature_kd.distill_features` (lesson 04) adds feature losses.

They are short on purpose: read them top to bottom. Each returns a :class:`History` that
``course_utils.plotting.plot_history`` draws.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import few_threads, get_device
from .data import make_loader
from .losses import kd_loss


@dataclass
class History:
    """Per-epoch records of a training run."""
    label: str = ""
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")


def as_loader(data, batch_size: int, shuffle: bool, seed: int):
    """Accept a loader, or a tuple ``(x, y)`` of tensors (then made into a seeded loader)."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return make_loader(data[0], data[1], batch_size, shuffle, seed)
    return data


@torch.no_grad()
def predict_logits(model, x: torch.Tensor, batch_size: int = 1024, device=None) -> torch.Tensor:
    """The model's logits for every row of ``x`` (eval mode, no gradients), on the CPU.

    Taught in lesson 01.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size].to(device)).float().cpu()
                     for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def evaluate(model, data, batch_size: int = 1024) -> dict:
    """Mean cross-entropy and accuracy on ``data`` (a loader or an ``(x, y)`` pair)."""
    loader = as_loader(data, batch_size, False, 0)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        count += len(y)
    model.train(was_training)
    return {"loss": total_loss / count, "accuracy": correct / count}


def train_loop(model, loader, batch_loss, *, epochs: int, lr: float, test=None, device=None,
               desc: str = "train", weight_decay: float = 0.0, progress: bool = True,
               extra_params=(), transform=None) -> History:
    """The loop every classifier trainer shares: AdamW, cosine schedule, one :class:`History`.

    ``batch_loss(model(x), x, y)`` gives each batch's loss (``y`` is whatever the loader
    yields beside ``x``: labels, or row numbers into stored teacher logits);
    ``extra_params`` are trained along with the model (e.g. a hint regressor);
    ``transform(x)``, if given, changes each batch before anything sees it (e.g. augmentation
    shared by teacher and student). The test accuracy after each epoch goes into the history.

    Taught in lesson 02.
    """
    device = device or get_device()
    model.to(device).train()
    params = list(model.parameters()) + list(extra_params)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * len(loader)))
    history, start = History(label=desc), time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False)
    with few_threads(model):
        for epoch in bar:
            loss = train_epoch(model, loader, batch_loss, optimizer, scheduler, device, transform)
            history.epoch.append(epoch)
            history.train_loss.append(loss)
            if test is not None:
                history.test_accuracy.append(evaluate(model, test)["accuracy"])
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{history.test_accuracy[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def train_epoch(model, loader, batch_loss, optimizer, scheduler=None, device="cpu",
                transform=None) -> float:
    """One pass over ``loader``, one optimizer step per batch; returns the mean loss.

    Each step: the batch's loss, ``zero_grad``, ``backward``, ``step`` (the step of lesson 02).

    Taught in lesson 02.
    """
    total, count = 0.0, 0
    for x, y in loader:
        if transform is not None:
            x = transform(x)
        x, y = x.to(device), y.to(device)
        loss = batch_loss(model(x), x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def fit(model, train, epochs: int = 10, lr: float = 3e-3, test=None, batch_size: int = 128,
        seed: int = 0, device=None, weight_decay: float = 0.0, label_smoothing: float = 0.0,
        desc: str = "train", progress: bool = True) -> History:
    """Train ``model`` with cross-entropy on hard labels (AdamW, cosine schedule).

    ``train`` and ``test`` are loaders or ``(x, y)`` tensor pairs. The test accuracy after
    each epoch goes into the returned :class:`History`.

    Taught in lesson 02.
    """
    loader = as_loader(train, batch_size, True, seed)

    def batch_loss(logits, x, y):
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    return train_loop(model, loader, batch_loss, epochs=epochs, lr=lr, test=test, device=device,
                      desc=desc, weight_decay=weight_decay, progress=progress)


def _check_outputs(x, teacher_logits, labels):
    if not torch.is_tensor(teacher_logits) or teacher_logits.dim() != 2 or \
            len(teacher_logits) != len(x):
        shape = tuple(teacher_logits.shape) if torch.is_tensor(teacher_logits) \
            else type(teacher_logits).__name__
        raise ValueError(f"`teacher_logits` must have one row per training example ({len(x)}), "
                         f"got {shape}: give one row of teacher logits per input.")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"x has {len(x)} rows but labels has {len(labels)}.")


def distill(student, x, teacher_logits=None, labels=None, *, teacher=None, epochs: int = 10,
            lr: float = 3e-3, T: float = 4.0, alpha: float = 1.0, loss_fn=None, test=None,
            batch_size: int = 128, seed: int = 0, device=None, weight_decay: float = 0.0,
            desc: str = "distill", progress: bool = True) -> History:
    """Train ``student`` on inputs ``x`` to match stored ``teacher_logits`` (taught in lesson 02).

    The teacher's logits are computed **once** (``predict_logits``, or pass ``teacher=`` to
    have them computed here in eval mode) and each batch takes *its own* rows of them: the
    loader yields the row numbers of its inputs, so the stored logits stay aligned with the
    shuffled batches (lesson 03's bug is to slice them by batch number). Without augmentation
    this equals :func:`distill_live` for a fraction of the time.

    The loss is :func:`course_utils.losses.kd_loss` with ``T`` and ``alpha`` (or
    ``loss_fn(student_logits, teacher_logits, labels)``). With ``labels=None`` only the soft
    term is used: a transfer set without labels, as through an API.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    if teacher_logits is not None and not torch.is_tensor(teacher_logits):
        teacher_logits = torch.as_tensor(teacher_logits, dtype=torch.float32)
    if teacher_logits is None:
        if teacher is None:
            raise ValueError("Give `teacher_logits` (stored) or a `teacher` to compute them.")
        teacher_logits = predict_logits(teacher, x)
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long)
    _check_outputs(x, teacher_logits, labels)
    if labels is None and loss_fn is None and alpha < 1.0:
        raise ValueError(f"alpha={alpha} mixes in a hard-label loss, but no labels were given: "
                         "pass labels=..., or alpha=1.0 to use the teacher's outputs only.")
    teacher_logits = teacher_logits.detach().float()
    loss_fn = loss_fn or (lambda s, t, y: kd_loss(s, t, y, T=T, alpha=alpha))
    # The loader yields (inputs, row numbers); the row numbers fetch the stored outputs.
    loader = make_loader(x, torch.arange(len(x)), batch_size, True, seed)

    def batch_loss(student_logits, xb, rows):
        rows = rows.cpu()
        t = teacher_logits[rows].to(student_logits.device)
        y = labels[rows].to(student_logits.device) if labels is not None else None
        return loss_fn(student_logits, t, y)
    return train_loop(student, loader, batch_loss, epochs=epochs, lr=lr, test=test,
                      device=device, desc=desc, weight_decay=weight_decay, progress=progress)


def distill_live(student, teacher, train, epochs: int = 10, lr: float = 3e-3, T: float = 4.0,
                 alpha: float = 0.5, loss_fn=None, test=None, batch_size: int = 128,
                 seed: int = 0, device=None, weight_decay: float = 0.0, desc: str = "distill",
                 progress: bool = True) -> History:
    """Train ``student`` to match ``teacher``, run live on every batch of ``train``.

    The teacher runs in eval mode without gradients. The loss is
    ``loss_fn(student_logits, teacher_logits, labels)``; by default
    :func:`course_utils.losses.kd_loss` with the given ``T`` and ``alpha``. Lesson 03
    compares it with a teacher left in train mode.

    Taught in lesson 03.
    """
    loader = as_loader(train, batch_size, True, seed)
    device = device or get_device()
    teacher.to(device).eval()
    loss_fn = loss_fn or (lambda s, t, y: kd_loss(s, t, y, T=T, alpha=alpha))

    def batch_loss(student_logits, x, y):
        with torch.no_grad():
            teacher_logits = teacher(x)
        return loss_fn(student_logits, teacher_logits, y)
    return train_loop(student, loader, batch_loss, epochs=epochs, lr=lr, test=test,
                      device=device, desc=desc, weight_decay=weight_decay, progress=progress)
