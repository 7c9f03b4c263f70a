"""Forward vs reverse KL on a toy (lesson 06): one Gaussian student fitted to a two-peaked teacher.

The "vocabulary" is a grid of points on a line; the teacher's distribution over it is a
mixture of two Gaussian bumps, and the student can only be one Gaussian (a mean and a
width). Fitting the student by gradient descent with

* forward KL, KL(teacher || student), makes it cover both bumps (mode covering): it is
  punished wherever the teacher has mass and the student has little;
* reverse KL, KL(student || teacher), makes it sit on one bump (mode seeking): it is
  punished wherever it puts mass the teacher does not have, and the gap between the bumps
  is such a place.

The losses are the same :mod:`course_utils.lm_losses` functions used on language models:
the grid plays the role of the vocabulary and the log-densities the role of logits.
"""
from __future__ import annotations

import torch

from .lm_losses import forward_kl, generalized_jsd, reverse_kl

GRID = torch.linspace(-6.0, 6.0, 241)


def gaussian_logits(mu, log_sigma, grid: torch.Tensor = GRID) -> torch.Tensor:
    """Log-density (up to a constant) of N(mu, sigma^2) on the grid: usable as logits."""
    return -0.5 * ((grid - mu) / log_sigma.exp()) ** 2 - log_sigma


def bimodal_teacher_logits(grid: torch.Tensor = GRID, centres=(-3.0, 2.5), widths=(0.6, 0.8),
                           weights=(0.55, 0.45)) -> torch.Tensor:
    """Logits of a mixture of two Gaussian bumps on the grid (the teacher)."""
    dens = sum(w * torch.exp(-0.5 * ((grid - c) / s) ** 2) / s for c, s, w in zip(centres, widths, weights))
    return dens.clamp_min(1e-30).log()


def fit_gaussian(kind: str = "forward", steps: int = 300, lr: float = 0.05, init_mu: float = 0.5,
                 init_log_sigma: float = 0.0, beta: float = 0.5, snapshots: int = 5,
                 teacher_logits: torch.Tensor | None = None):
    """Fit (mu, log sigma) of a Gaussian student by Adam on the chosen divergence.

    Returns a dict with the final ``mu`` and ``sigma``, the ``loss`` per step and
    ``snapshots``: (step, student probabilities on the grid) at evenly spaced steps.

    Taught in lesson 06.
    """
    losses = {"forward": forward_kl, "reverse": reverse_kl,
              "jsd": lambda s, t: generalized_jsd(s, t, beta)}
    if kind not in losses:
        raise ValueError(f"kind must be one of {tuple(losses)}, got {kind!r}.")
    teacher = bimodal_teacher_logits() if teacher_logits is None else teacher_logits
    mu = torch.tensor(float(init_mu), requires_grad=True)
    log_sigma = torch.tensor(float(init_log_sigma), requires_grad=True)
    optimizer = torch.optim.Adam([mu, log_sigma], lr=lr)
    keep = set(torch.linspace(0, steps, snapshots).round().long().tolist())
    out = {"kind": kind, "loss": [], "snapshots": []}
    for step in range(steps + 1):
        logits = gaussian_logits(mu, log_sigma)
        if step in keep:
            out["snapshots"].append((step, torch.softmax(logits.detach(), -1)))
        if step == steps:
            break
        loss = losses[kind](logits[None], teacher[None])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        out["loss"].append(loss.item())
    out["mu"], out["sigma"] = mu.item(), log_sigma.exp().item()
    return out


def plot_fits(fits, ax_row=None):
    """One panel per fit: the teacher's two bumps and the student's snapshots as it fits."""
    import matplotlib.pyplot as plt
    if ax_row is None:
        _, ax_row = plt.subplots(1, len(fits), figsize=(4.2 * len(fits), 3.2), sharey=True)
    teacher = torch.softmax(bimodal_teacher_logits(), -1)
    for ax, fit in zip(ax_row, fits):
        ax.fill_between(GRID.numpy(), teacher.numpy(), alpha=0.3, color="grey", label="teacher")
        n = len(fit["snapshots"])
        for i, (step, probs) in enumerate(fit["snapshots"]):
            ax.plot(GRID.numpy(), probs.numpy(), color=plt.cm.viridis(i / max(1, n - 1)),
                    label=f"student, step {step}")
        ax.set_title(f"{fit['kind']} KL" if fit["kind"] != "jsd" else "JSD")
        ax.set_xlabel("outcome")
    ax_row[0].set_ylabel("probability")
    ax_row[-1].legend(fontsize=7)
    return ax_row
