"""Antidistillation sampling (Savani et al. 2025, arXiv:2504.13146). Taught in lesson 11.

A distiller fine-tunes a student on the teacher's sampled tokens. Training on a token x moves
the student's weights by a small step along the gradient of ``log p_student(x)``, and so
changes the student's loss on other text by about

    Delta(x) = < grad L_proxy(theta), grad log p_proxy(x | context) >

times the learning rate (a first-order Taylor expansion). The defence uses a *proxy student*
(a small model with the teacher's vocabulary, standing for the distiller's) and its loss
``L_proxy`` on a held-out batch, and samples each token from

    softmax(teacher_logits / T + lam * Delta)

so that, for ``lam > 0``, tokens that would *raise* the proxy's loss are favoured, traded
against the teacher's own likelihood. Computing Delta for every token of the vocabulary with
autograd would take one backward pass per token. The paper's trick: Delta(x) is the
derivative of ``log p_proxy(x)`` along the direction ``g = grad L_proxy``, so a central
finite difference of two perturbed copies of the proxy estimates it for all tokens at once:

    Delta(x) ~ (log p_{theta + eps g}(x) - log p_{theta - eps g}(x)) / (2 eps).

* :func:`proxy_loss` -- the proxy's next-token loss on a held-out batch;
* :func:`perturbed_proxies` -- the two copies, as a :class:`ProxyPair`;
* :func:`token_deltas` -- Delta for every token after each row of a batch of contexts;
* :func:`antidistill_generate` -- the course's own sampling loop
  (:func:`course_utils.lm.sample_continuations`, attention mask at every step); with
  ``lam = 0`` it draws exactly the tokens of plain temperature sampling.

The teacher API samples this way with ``Defence(antidistill=lam, proxy=pair)``
(:mod:`course_utils.defences`).
"""
from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ProxyPair", "proxy_loss", "perturbed_proxies", "token_deltas",
           "antidistill_generate", "check_proxy_fits"]


def proxy_loss(proxy, held_out: torch.Tensor) -> torch.Tensor:
    """The proxy's mean next-token cross-entropy on ``held_out`` (token ids, ``(n, length)``):
    the downstream loss antidistillation tries to raise. Taught in lesson 11."""
    from .lm import block_logits
    ids = torch.as_tensor(held_out, dtype=torch.long).to(next(proxy.parameters()).device)
    logits = block_logits(proxy, ids)[:, :-1]
    return F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())


@dataclass
class ProxyPair:
    """Two copies of a proxy student, moved by ``+epsilon`` and ``-epsilon`` times the gradient of
    its held-out loss (:func:`perturbed_proxies`). Taught in lesson 11."""
    plus: torch.nn.Module
    minus: torch.nn.Module
    epsilon: float

    @property
    def vocab_size(self) -> int:
        return int(self.plus.config.vocab_size)

    def nudge(self, weight: float) -> "_Nudge":
        """A fresh sampler add-on for one generation: ``weight`` times Delta at each step."""
        return _Nudge(self, _check_weight(weight))


def _check_weight(weight) -> float:
    if not isinstance(weight, numbers.Real) or isinstance(weight, bool) \
            or not math.isfinite(float(weight)):
        raise ValueError(f"the antidistillation weight lambda must be a finite number, not "
                         f"{weight!r}.")
    return float(weight)


def perturbed_proxies(proxy, held_out, epsilon: float = 1e-3, loss_fn=None) -> ProxyPair:
    """The proxy's two perturbed copies: weights ``theta +- epsilon * g`` with
    ``g = grad loss_fn(proxy)`` (default: :func:`proxy_loss` on ``held_out``).

    Taught in lesson 11. The proxy itself is left as it was (weights and ``.grad``). The
    copies are in eval mode and keep the proxy's dtype (float64 proxies give float64 Deltas)."""
    if not isinstance(epsilon, numbers.Real) or isinstance(epsilon, bool) or not epsilon > 0:
        raise ValueError(f"epsilon is the finite-difference step: a number > 0, not {epsilon!r}.")
    was_training = proxy.training
    proxy.eval()
    params = [p for p in proxy.parameters() if p.requires_grad]
    loss = loss_fn(proxy) if loss_fn is not None else proxy_loss(proxy, held_out)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    proxy.train(was_training)
    copies = []
    for sign in (+1.0, -1.0):
        twin = copy.deepcopy(proxy).eval()
        with torch.no_grad():
            twin_params = [p for p in twin.parameters() if p.requires_grad]
            for p, g in zip(twin_params, grads):
                if g is not None:
                    p.add_(g, alpha=sign * float(epsilon))
        copies.append(twin)
    return ProxyPair(copies[0], copies[1], float(epsilon))


@torch.no_grad()
def token_deltas(pair: ProxyPair, input_ids, attention_mask=None) -> torch.Tensor:
    """Delta for every token of the vocabulary as the next token after each row of
    ``input_ids``: ``(batch, vocab)``, the central finite difference of the two copies'
    log-probabilities (no ``attention_mask``: no padding). Taught in lesson 11."""
    device = next(pair.plus.parameters()).device
    ids = torch.as_tensor(input_ids, dtype=torch.long).to(device)
    mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(device)
    up = torch.log_softmax(pair.plus(input_ids=ids, attention_mask=mask).logits[:, -1], dim=-1)
    down = torch.log_softmax(pair.minus(input_ids=ids, attention_mask=mask).logits[:, -1], dim=-1)
    return (up - down) / (2 * pair.epsilon)


class _Nudge:
    """One generation's add-on to the sampler: the copies' key-value caches, and ``weight``
    times Delta for the next token at each step."""

    def __init__(self, pair: ProxyPair, weight: float):
        self.pair, self.weight = pair, weight
        self.caches = [None, None]

    @torch.no_grad()
    def __call__(self, step_ids, attention_mask) -> torch.Tensor:
        from .lm import forward_cached
        device = next(self.pair.plus.parameters()).device
        log_probs = []
        for side, model in enumerate((self.pair.plus, self.pair.minus)):
            logits, self.caches[side] = forward_cached(model, step_ids.to(device),
                                                       self.caches[side],
                                                       attention_mask.to(device))
            log_probs.append(torch.log_softmax(logits[:, -1].double(), dim=-1))
        delta = (log_probs[0] - log_probs[1]) / (2 * self.pair.epsilon)
        # a token both copies rule out (log-probability -inf in both) is left alone
        delta = torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)
        return (self.weight * delta).float().cpu()


def check_proxy_fits(pair: ProxyPair, model) -> None:
    """A clear message when the proxy's vocabulary is not the teacher's (Delta must line up
    with the teacher's logits token by token)."""
    if pair.vocab_size != int(model.config.vocab_size):
        raise ValueError(f"the proxy's vocabulary ({pair.vocab_size} tokens) is not the "
                         f"teacher's ({model.config.vocab_size}): make the proxy with the "
                         "teacher's tokenizer (course_utils.teachers.make_student).")


def antidistill_generate(model, input_ids, pair: ProxyPair, weight: float, *,
                         max_new_tokens: int, seed: int = 0, temperature: float = 1.0,
                         attention_mask=None) -> list[list[int]]:
    """Sample continuations of ``input_ids`` from ``softmax(logits / temperature + weight *
    Delta)``; returns only the new tokens (a list of id lists, cut at EOS).

    Taught in lesson 11. The course's own loop (:func:`course_utils.lm.sample_continuations`):
    the teacher and both proxy copies step together, each with its key-value cache and the
    attention mask at every step. With ``weight = 0`` it draws bit for bit the tokens of plain
    temperature sampling (:func:`course_utils.watermark.watermarked_generate` without a
    watermark) with the same seed."""
    from .lm import sample_continuations
    nudge = pair.nudge(weight)
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, not {temperature!r}.")
    check_proxy_fits(pair, model)
    return sample_continuations(model, input_ids, max_new_tokens=max_new_tokens, seed=seed,
                                temperature=temperature, attention_mask=attention_mask,
                                nudge=nudge)
