"""Distilling more than logits (lesson 04): features, attention, relations, function matching.

* :class:`FeatureHooks` records the outputs of named layers during a forward pass
  (``register_forward_hook``), so any model can give up its intermediate features;
* :class:`HintLoss` -- FitNets (Romero et al. 2015, arXiv:1412.6550): a learned 1x1
  convolution (the *regressor*) maps the student's features to the teacher's width, and the
  loss is the mean squared error between them;
* :func:`attention_map` / :class:`AttentionLoss` -- attention transfer (Zagoruyko &
  Komodakis 2017, arXiv:1612.03928) for 1D features: the map is the channel-mean of
  ``|feature|**p`` at each position, L2-normalised; the loss compares the two maps;
* :func:`rkd_distance_loss`, :func:`rkd_angle_loss` / :class:`RelationalLoss` -- relational
  KD (Park et al. 2019, arXiv:1904.05068): match the *distances* between examples (each set
  divided by its mean distance) and the *angles* their triples form;
* :func:`augment_mnist1d` -- random shifts and noise for MNIST-1D; function matching (Beyer
  et al. 2022, *Knowledge distillation: A good teacher is patient and consistent*,
  arXiv:2106.05237) gives teacher and student the **same** augmented batch;
* :func:`distill_features` -- the training loop that adds any of these losses to the
  usual KD (or cross-entropy) loss.

Features of a 1D CNN have shape ``(N, channels, length)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import get_device
from .losses import kd_loss
from .train import History, as_loader, train_loop


# ----------------------------------------------------------------------------------------
# Hooks
# ----------------------------------------------------------------------------------------
class FeatureHooks:
    """Record the outputs of some layers of ``model`` on every forward pass.

    >>> hooks = FeatureHooks(model, ["blocks.0", "blocks.2"])   # doctest: +SKIP
    >>> logits = model(x); hooks["blocks.2"].shape               # doctest: +SKIP
    >>> hooks.remove()                                           # doctest: +SKIP

    Also a context manager (``with FeatureHooks(...) as hooks:``) that removes its hooks on
    exit. Layer names are those of ``model.named_modules()``.
    """

    def __init__(self, model: nn.Module, layers):
        names = [layers] if isinstance(layers, str) else list(layers)
        known = dict(model.named_modules())
        missing = [n for n in names if n not in known]
        if missing:
            choices = ", ".join(n for n in known if n) or "(none)"
            raise KeyError(f"{type(model).__name__} has no layer(s) {missing}. Its layers: {choices}.")
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = [known[n].register_forward_hook(self._recorder(n)) for n in names]

    def _recorder(self, name):
        def hook(module, inputs, output):
            self.outputs[name] = output
        return hook

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.outputs:
            raise KeyError(f"No output recorded for {name!r} yet: run the model first.")
        return self.outputs[name]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _check_feature(feat, name):
    if not torch.is_tensor(feat) or feat.dim() != 3:
        shape = tuple(feat.shape) if torch.is_tensor(feat) else type(feat).__name__
        raise ValueError(f"`{name}` should be 1D-CNN features of shape (N, channels, length), got {shape}.")


# ----------------------------------------------------------------------------------------
# The losses (functions), and modules that say which layers they read
# ----------------------------------------------------------------------------------------
def attention_map(feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Spatial attention of 1D features ``(N, C, L)``: channel-mean of ``|f|**p``, L2-normalised.

    Returns ``(N, L)``; each row has unit L2 norm, so maps of layers with different channel
    counts (student and teacher) can be compared.

    Taught in lesson 04.
    """
    _check_feature(feat, "feat")
    return F.normalize(feat.abs().pow(p).mean(dim=1), dim=1)


def attention_loss(student_feat, teacher_feat, p: float = 2.0) -> torch.Tensor:
    """Mean squared difference of the two attention maps (the teacher's is not back-propagated).

    When the lengths differ the student's map is linearly resized to the teacher's.
    """
    a_s = attention_map(student_feat, p)
    a_t = attention_map(teacher_feat.detach(), p)
    if a_s.shape[1] != a_t.shape[1]:
        a_s = F.normalize(F.interpolate(a_s[:, None], size=a_t.shape[1], mode="linear",
                                        align_corners=False)[:, 0], dim=1)
    return (a_s - a_t).pow(2).sum(dim=1).mean()


def _pairwise_distances(emb: torch.Tensor) -> torch.Tensor:
    emb = emb.flatten(1)
    sq = emb.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * emb @ emb.T).clamp_min(1e-12)
    d = d2.sqrt()
    return d * (1 - torch.eye(len(emb), device=emb.device, dtype=emb.dtype))


def normalized_distances(emb: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances between rows, divided by their mean off-diagonal distance.

    Taught in lesson 04.
    """
    if not torch.is_tensor(emb) or emb.dim() < 2 or len(emb) < 2:
        raise ValueError("Relational losses need a batch of at least two embeddings, shape (N, ...).")
    d = _pairwise_distances(emb)
    n = len(emb)
    mean = d.sum() / (n * (n - 1))
    return d / mean.clamp_min(1e-12)


def rkd_distance_loss(student_emb, teacher_emb) -> torch.Tensor:
    """RKD-D: Huber (smooth L1) loss between the two normalised distance matrices."""
    with torch.no_grad():
        t = normalized_distances(teacher_emb.detach())
    s = normalized_distances(student_emb)
    return F.smooth_l1_loss(s, t)


def _angles(emb: torch.Tensor) -> torch.Tensor:
    emb = emb.flatten(1)
    diff = F.normalize(emb[None, :, :] - emb[:, None, :], p=2, dim=2)   # (N, N, D): e_ij
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()              # cos of angle j-i-k


def rkd_angle_loss(student_emb, teacher_emb, max_examples: int | None = 32) -> torch.Tensor:
    """RKD-A: Huber loss between the cosines of the angles that triples of examples form.

    There are N**3 triples, so only the first ``max_examples`` rows of the batch are used
    (batches are shuffled, so these are a random sample); ``None`` uses them all.
    """
    if len(student_emb) < 3:
        raise ValueError("The angle loss needs a batch of at least three examples.")
    if max_examples is not None:
        student_emb, teacher_emb = student_emb[:max_examples], teacher_emb[:max_examples]
    with torch.no_grad():
        t = _angles(teacher_emb.detach())
    return F.smooth_l1_loss(_angles(student_emb), t)


class FeatureLoss(nn.Module):
    """A loss between one student layer and one teacher layer, with a weight.

    Subclasses implement ``compute(student_feat, teacher_feat)``. Any parameters they own
    (the hint regressor) are trained with the student by :func:`distill_features`.
    """

    def __init__(self, student_layer: str, teacher_layer: str, weight: float = 1.0):
        super().__init__()
        self.student_layer, self.teacher_layer, self.weight = student_layer, teacher_layer, float(weight)

    def compute(self, student_feat, teacher_feat) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, student_feat, teacher_feat) -> torch.Tensor:
        return self.weight * self.compute(student_feat, teacher_feat.detach())

    def extra_repr(self) -> str:
        return f"{self.student_layer} -> {self.teacher_layer}, weight={self.weight}"


class HintLoss(FeatureLoss):
    """FitNets hint: MSE between ``regressor(student_feat)`` and the teacher's features.

    The regressor is a 1x1 convolution from the student's channel count to the teacher's.
    """

    def __init__(self, student_layer, teacher_layer, student_channels: int, teacher_channels: int,
                 weight: float = 1.0):
        super().__init__(student_layer, teacher_layer, weight)
        self.regressor = nn.Conv1d(int(student_channels), int(teacher_channels), kernel_size=1)

    def compute(self, student_feat, teacher_feat):
        _check_feature(student_feat, "student_feat")
        mapped = self.regressor(student_feat)
        if mapped.shape != teacher_feat.shape:
            raise ValueError(f"The hint regressor maps the student's features to {tuple(mapped.shape)}, "
                             f"but the teacher's are {tuple(teacher_feat.shape)}.")
        return F.mse_loss(mapped, teacher_feat)


class AttentionLoss(FeatureLoss):
    """Attention transfer between one student layer and one teacher layer."""

    def __init__(self, student_layer, teacher_layer, weight: float = 1.0, p: float = 2.0):
        super().__init__(student_layer, teacher_layer, weight)
        self.p = p

    def compute(self, student_feat, teacher_feat):
        return attention_loss(student_feat, teacher_feat, self.p)


class RelationalLoss(FeatureLoss):
    """Relational KD on flattened features: ``distance_weight * RKD-D + angle_weight * RKD-A``."""

    def __init__(self, student_layer, teacher_layer, weight: float = 1.0,
                 distance_weight: float = 1.0, angle_weight: float = 2.0):
        super().__init__(student_layer, teacher_layer, weight)
        self.distance_weight, self.angle_weight = distance_weight, angle_weight

    def compute(self, student_feat, teacher_feat):
        loss = self.distance_weight * rkd_distance_loss(student_feat, teacher_feat)
        if self.angle_weight:
            loss = loss + self.angle_weight * rkd_angle_loss(student_feat, teacher_feat)
        return loss


# ----------------------------------------------------------------------------------------
# Augmentation for function matching
# ----------------------------------------------------------------------------------------
def augment_mnist1d(x: torch.Tensor, max_shift: int = 3, noise: float = 0.1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """A randomly shifted (circularly, up to ``max_shift`` steps either way), noisier copy of ``x``.

    ``x`` has shape ``(N, L)``; each row gets its own shift and Gaussian noise of standard
    deviation ``noise``. Give the result to teacher *and* student: that is function matching.

    Taught in lesson 04.
    """
    if not torch.is_tensor(x) or x.dim() != 2:
        raise ValueError(f"augment_mnist1d expects signals of shape (N, length), got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}.")
    n, length = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator)
    positions = (torch.arange(length)[None, :] - shifts[:, None]) % length
    out = torch.gather(x, 1, positions.to(x.device))
    if noise:
        out = out + noise * torch.randn(x.shape, generator=generator).to(x.device)
    return out


# ----------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------
def distill_features(student, teacher, train, epochs: int = 10, lr: float = 3e-3,
                     T: float = 4.0, alpha: float = 0.9, extra_losses=(), augment=None,
                     test=None, batch_size: int = 128, seed: int = 0, device=None,
                     weight_decay: float = 0.0, desc: str = "distill (features)",
                     progress: bool = True) -> History:
    """Train ``student`` with ``kd_loss(T, alpha)`` plus each loss in ``extra_losses``.

    * ``alpha=0`` makes the base loss plain cross-entropy on the labels (so ``extra_losses``
      alone carry the teacher's knowledge); ``alpha=1`` uses only the soft targets.
    * each extra loss is a :class:`FeatureLoss`; the layers it names are recorded with
      :class:`FeatureHooks`, and its own parameters (a hint regressor) are trained too.
    * ``augment(x, generator)``, if given, is applied to each batch **once**, and teacher and
      student both see that augmented batch (function matching). The labels are kept.

    The teacher runs in eval mode without gradients. Returns a :class:`History`.

    Taught in lesson 04.
    """
    train = as_loader(train, batch_size, True, seed)
    extra = nn.ModuleList(list(extra_losses))
    for loss in extra:
        if not isinstance(loss, FeatureLoss):
            raise TypeError(f"extra_losses must be FeatureLoss objects (HintLoss, AttentionLoss, "
                            f"RelationalLoss), not {type(loss).__name__}.")
    device = device or get_device()
    teacher.to(device).eval()
    student.to(device).train()
    extra.to(device).train()
    s_hooks = FeatureHooks(student, sorted({l.student_layer for l in extra}))
    t_hooks = FeatureHooks(teacher, sorted({l.teacher_layer for l in extra}))
    generator = torch.Generator().manual_seed(seed + 12345)
    transform = None if augment is None else (lambda x: augment(x, generator=generator))

    def step_loss(student_logits, x, y):
        with torch.no_grad():
            teacher_logits = teacher(x)
        if alpha > 0:
            loss = kd_loss(student_logits, teacher_logits, y, T=T, alpha=alpha)
        else:
            loss = F.cross_entropy(student_logits, y)
        for l in extra:
            loss = loss + l(s_hooks[l.student_layer], t_hooks[l.teacher_layer])
        return loss

    try:
        return train_loop(student, train, step_loss, epochs=epochs, lr=lr, test=test,
                          device=device, desc=desc, weight_decay=weight_decay, progress=progress,
                          extra_params=extra.parameters(), transform=transform)
    finally:
        s_hooks.remove()
        t_hooks.remove()
