"""Training loops for Part I: ``fit`` (hard labels), ``distill`` (a teacher), ``evaluate``.

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


def _as_loader(data, batch_size, shuffle, seed):
    """Accept a loader, or a tuple ``(x, y)`` of tensors."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return make_loader(data[0], data[1], batch_size, shuffle, seed)
    return data


@torch.no_grad()
def predict_logits(model, x: torch.Tensor, batch_size: int = 1024, device=None) -> torch.Tensor:
    """The model's logits for every row of ``x`` (eval mode, no gradients), on the CPU."""
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
    loader = _as_loader(data, batch_size, False, 0)
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


def _train(model, loader, epochs, lr, step_loss, test, device, desc, weight_decay, progress,
           extra_params=(), transform=None):
    """The loop every trainer shares: AdamW, cosine schedule, one History.

    ``step_loss(model(x), x, y)`` gives each batch's loss; ``extra_params`` are trained along
    with the model (e.g. a hint regressor); ``transform(x)``, if given, changes each batch
    before anything sees it (e.g. augmentation shared by teacher and student).
    """
    device = device or get_device()
    model.to(device).train()
    params = list(model.parameters()) + list(extra_params)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * len(loader)))
    history, start = History(label=desc), time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False)
    with few_threads(model):
        _epochs(model, loader, bar, optimizer, scheduler, step_loss, test, device, history, transform)
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def _epochs(model, loader, bar, optimizer, scheduler, step_loss, test, device, history, transform):
    for epoch in bar:
        total, count = 0.0, 0
        for x, y in loader:
            if transform is not None:
                x = transform(x)
            x, y = x.to(device), y.to(device)
            loss = step_loss(model(x), x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(y)
            count += len(y)
        history.epoch.append(epoch)
        history.train_loss.append(total / count)
        if test is not None:
            history.test_accuracy.append(evaluate(model, test)["accuracy"])
            bar.set_postfix(loss=f"{total / count:.3f}", acc=f"{history.test_accuracy[-1]:.3f}")


def fit(model, train, epochs: int = 10, lr: float = 3e-3, test=None, batch_size: int = 128,
        seed: int = 0, device=None, weight_decay: float = 0.0, label_smoothing: float = 0.0,
        desc: str = "train", progress: bool = True) -> History:
    """Train ``model`` with cross-entropy on hard labels (AdamW, cosine schedule).

    ``train`` and ``test`` are loaders or ``(x, y)`` tensor pairs. The test accuracy after
    each epoch goes into the returned :class:`History`.
    """
    loader = _as_loader(train, batch_size, True, seed)
    def step_loss(logits, x, y):
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    return _train(model, loader, epochs, lr, step_loss, test, device, desc, weight_decay, progress)


def distill(student, teacher, train, epochs: int = 10, lr: float = 3e-3, T: float = 4.0,
            alpha: float = 0.5, loss_fn=None, test=None, batch_size: int = 128, seed: int = 0,
            device=None, weight_decay: float = 0.0, desc: str = "distill",
            progress: bool = True) -> History:
    """Train ``student`` to match ``teacher`` on ``train``.

    The teacher runs in eval mode without gradients on each batch. The loss is
    ``loss_fn(student_logits, teacher_logits, labels)``; by default
    :func:`course_utils.losses.kd_loss` with the given ``T`` and ``alpha``.
    """
    loader = _as_loader(train, batch_size, True, seed)
    device = device or get_device()
    teacher.to(device).eval()
    loss_fn = loss_fn or (lambda s, t, y: kd_loss(s, t, y, T=T, alpha=alpha))
    def step_loss(student_logits, x, y):
        with torch.no_grad():
            teacher_logits = teacher(x)
        return loss_fn(student_logits, teacher_logits, y)
    return _train(student, loader, epochs, lr, step_loss, test, device, desc, weight_decay, progress)
