"""Output defences of the teacher API: what a provider can change in its answers (lesson 11).

A distiller learns from what the API returns: the sampled text and, when asked, the
log-probabilities of the chosen tokens and of their top alternatives. A :class:`Defence` says
how the server changes that before it leaves (Taught in lesson 11). Each part is off by
default, and a server whose defence is off answers exactly as one without it, bit for bit:

* ``round_decimals`` -- every returned log-probability rounded to that many decimals;
* ``noise_std``      -- Gaussian noise of that standard deviation added to every returned
  log-probability (capped at 0, since a log-probability cannot be positive);
* ``top1_only``      -- no log-probabilities at all: a request asking for them gets a 400 in
  OpenAI's error shape, as the real service gives for a model that does not return them;
* ``min_temperature`` -- a temperature floor: a request is sampled at
  ``max(temperature, min_temperature)`` (so a greedy request is sampled too); its ``top_p``
  is left as asked, so a small ``top_p`` still narrows the sampling (a way around the floor
  that a provider would have to close as well);
* ``antidistill`` with a ``proxy`` -- antidistillation sampling (Savani et al. 2025,
  arXiv:2504.13146; :mod:`course_utils.antidistill`): tokens are drawn from the teacher's
  distribution tilted towards those that would raise a proxy student's loss.

The first three are the output perturbations of IBM's Adversarial Robustness Toolbox
(rounding, Gaussian noise, labels only); the last two change the text itself, which is all a
distiller who trains on sampled text uses. The server applies a defence in
:meth:`course_utils.api.TeacherAPI.complete` (``serve(model, tok, defence=Defence(...))``);
the defence never shows in a response except through its effect.
"""
from __future__ import annotations

import math
import numbers
import secrets
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Defence", "round_logprobs", "noisy_logprobs"]

#: What a request asking for log-probabilities gets from a ``top1_only`` server.
TOP1_MESSAGE = "Unsupported parameter: '{param}' is not supported with this model."


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(float(value))


@dataclass(frozen=True)
class Defence:
    """How the teacher API changes its outputs (every part off by default).

    Taught in lesson 11. ``round_decimals``: an int >= 0, or None (no rounding);
    ``noise_std``: >= 0; ``top1_only``: refuse log-probabilities; ``min_temperature``: in
    [0, 2] (the API's temperature range); ``antidistill``: the weight lambda of
    antidistillation sampling, which needs ``proxy`` (a
    :class:`course_utils.antidistill.ProxyPair`).
    """
    round_decimals: int | None = None
    noise_std: float = 0.0
    top1_only: bool = False
    min_temperature: float = 0.0
    antidistill: float = 0.0
    proxy: object = field(default=None, repr=False)

    def __post_init__(self):
        d = self.round_decimals
        if d is not None and (not isinstance(d, numbers.Integral) or isinstance(d, bool) or d < 0):
            raise ValueError(f"round_decimals must be a whole number >= 0 (or None for no "
                             f"rounding), not {d!r}.")
        if not _is_number(self.noise_std) or self.noise_std < 0:
            raise ValueError(f"noise_std is a standard deviation: a number >= 0, not "
                             f"{self.noise_std!r}.")
        if not isinstance(self.top1_only, bool):
            raise ValueError(f"top1_only must be True or False, not {self.top1_only!r}.")
        if not _is_number(self.min_temperature) or not 0 <= self.min_temperature <= 2:
            raise ValueError(f"min_temperature must be a number between 0 and 2 (the API's "
                             f"temperatures), not {self.min_temperature!r}.")
        if not _is_number(self.antidistill):
            raise ValueError(f"antidistill is the weight lambda: a finite number, not "
                             f"{self.antidistill!r}.")
        if self.proxy is not None and not hasattr(self.proxy, "nudge"):
            raise ValueError("proxy must be the pair from course_utils.antidistill."
                             f"perturbed_proxies(...), not {type(self.proxy).__name__}.")
        if self.antidistill != 0 and self.proxy is None:
            raise ValueError("antidistill needs proxy=...: the perturbed proxy pair from "
                             "course_utils.antidistill.perturbed_proxies(...).")

    @property
    def active(self) -> bool:
        """Whether any part of the defence is on."""
        return (self.round_decimals is not None or self.noise_std > 0 or self.top1_only
                or self.min_temperature > 0 or self.antidistill != 0)

    def refusal(self, wants_logprobs: bool) -> str | None:
        """The message for a request this server refuses (its ``param`` is ``logprobs``)."""
        if self.top1_only and wants_logprobs:
            return TOP1_MESSAGE.format(param="logprobs")
        return None

    def temperature(self, requested: float) -> float:
        """The temperature a request is sampled at: the requested one, raised to the floor."""
        return max(float(requested), float(self.min_temperature)) if self.min_temperature > 0 \
            else requested

    def nudge(self):
        """What the sampler adds to the scaled logits (antidistillation), or None when off."""
        return self.proxy.nudge(self.antidistill) if self.antidistill != 0 else None

    def logprobs(self, ids: list, chosen: list, top: list, rng) -> tuple[list, list]:
        """The returned log-probabilities of one choice: of its tokens ``ids`` (``chosen``, one
        per token) and ``top`` (per token, a list of ``(token id, logprob)``), noised then
        rounded."""
        if self.noise_std > 0:
            chosen, top = noisy_logprobs(ids, chosen, top, self.noise_std, rng)
        if self.round_decimals is not None:
            chosen, top = round_logprobs(chosen, top, self.round_decimals)
        return chosen, top

    @classmethod
    def from_text(cls, text: str) -> "Defence":
        """A defence from ``course serve --defence`` text: comma-separated parts among
        ``round=D``, ``noise=S``, ``top1``, ``min-temperature=T`` (e.g. ``"round=1,top1"``).
        Antidistillation needs a proxy model, so it is set from Python only."""
        names = {"round": ("round_decimals", int, "a whole number"),
                 "noise": ("noise_std", float, "a number"),
                 "min-temperature": ("min_temperature", float, "a number")}
        kwargs = {}
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            name, _, value = part.partition("=")
            if name == "top1" and not value:
                kwargs["top1_only"] = True
            elif name in names and value:
                attr, kind, what = names[name]
                try:
                    kwargs[attr] = kind(value)
                except ValueError:
                    raise ValueError(f"{name}= needs {what}, not {value!r}.") from None
            else:
                raise ValueError(f"unknown defence part {part!r}: use round=D, noise=S, top1 "
                                 "or min-temperature=T, separated by commas.")
        return cls(**kwargs)


def round_logprobs(chosen: list, top: list, decimals: int) -> tuple[list, list]:
    """Every log-probability rounded to ``decimals`` decimals (chosen tokens and alternatives).

    Taught in lesson 11. Rounding keeps the order of the alternatives, but tokens whose
    log-probabilities differ by less than ``10**-decimals`` can no longer be told apart."""
    chosen = [round(float(v), decimals) for v in chosen]
    top = [[(i, round(float(v), decimals)) for i, v in alts] for alts in top]
    return chosen, top


def noisy_logprobs(ids: list, chosen: list, top: list, std: float, rng) -> tuple[list, list]:
    """Gaussian noise (standard deviation ``std``) added to the returned log-probabilities.

    Taught in lesson 11. A token listed both as chosen and among the alternatives of one
    position gets the same noisy value in both places (else the difference would give the
    noise away); the alternatives are sorted again by their noisy values; every value is
    capped at 0. ``ids``: the chosen tokens; ``rng``: a ``numpy.random.Generator``."""
    def noisy(value):
        return min(0.0, float(value) + float(rng.normal(0.0, std)))

    new_chosen, new_top = [], []
    for position, (token, value) in enumerate(zip(ids, chosen)):
        alts = {int(i): noisy(v) for i, v in (top[position] if position < len(top) else [])}
        new_chosen.append(alts[int(token)] if int(token) in alts else noisy(value))
        new_top.append(sorted(alts.items(), key=lambda pair: -pair[1]))
    return new_chosen, new_top[:len(top)]


def noise_rng(seed: int | None, index: int):
    """The noise generator of one choice: seeded by the request's ``seed`` (so a seeded request
    gets the same noise again), else fresh."""
    if seed is None:
        return np.random.default_rng(secrets.randbits(62))
    return np.random.default_rng([int(seed) % 2**63, int(index)])
