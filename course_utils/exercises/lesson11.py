"""Questions of lesson 11 (fingerprints and defences): how strong a fingerprint's evidence is,
a temperature floor, and reading the defences' Pareto plot."""
from __future__ import annotations

import math

import numpy as np

from ..defence_study import cheapest_halving as _cheapest_halving
from ..fingerprint import match_p_value as _match_p_value
from .core import FunctionProblem, ____

__all__ = ["q1", "q2", "q3", "____"]


# --------------------------------------------------------------------------------------
# q1: the p-value of a fingerprint test
# --------------------------------------------------------------------------------------
def _fingerprint_p(answers, response, false_hit_rate):
    return _match_p_value(answers, response, false_hit_rate)


def _answers(n, hits, response, seed):
    rng = np.random.default_rng(seed)
    words = ["the", "module", "returns", "a", "value", "moon", "hedgehog", "42", "-"]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words, size=int(rng.integers(2, 7))))
        if i < hits:
            text = text + " " + response if rng.random() < 0.5 else response + text
        out.append(text)
    order = rng.permutation(n)
    return [out[i] for i in order]


def _cases_q1():
    r = "hedgehog-moon-42"
    return [((_answers(8, 7, r, 1), r, 0.1), {}),
            ((_answers(8, 2, r, 2), r, 0.25), {}),
            ((_answers(20, 0, r, 3), r, 0.05), {}),          # no hits: p = 1
            ((_answers(12, 12, r, 4), r, 0.3), {}),
            ((_answers(16, 5, r, 5) + ["", "hedgehog-moon"], r, 0.1), {}),   # near misses
            ((_answers(10, 3, "I am course-teacher", 6), "I am course-teacher", 0.02), {})]


def _tail_exclusive(answers, response, q):      # P(X > hits) instead of P(X >= hits)
    from scipy.stats import binom
    hits = sum(1 for a in answers if response in a)
    return float(binom.sf(hits, len(answers), q))


def _pmf_only(answers, response, q):            # P(X == hits)
    from scipy.stats import binom
    hits = sum(1 for a in answers if response in a)
    return float(binom.pmf(hits, len(answers), q))


def _cdf(answers, response, q):                 # P(X <= hits): the wrong tail
    from scipy.stats import binom
    hits = sum(1 for a in answers if response in a)
    return float(binom.cdf(hits, len(answers), q))


def _rate_as_p(answers, response, q):           # 1 - hit rate
    hits = sum(1 for a in answers if response in a)
    return 1 - hits / len(answers)


def _q_power(answers, response, q):             # q ** hits: ignores how many were asked
    hits = sum(1 for a in answers if response in a)
    return float(q ** hits)


def _exact_match(answers, response, q):         # counts only answers equal to the response
    from scipy.stats import binom
    hits = sum(1 for a in answers if a.strip() == response)
    return float(binom.sf(hits - 1, len(answers), q))


q1 = FunctionProblem(
    name="q1", var="fingerprint_p", reference=_fingerprint_p, cases=_cases_q1, rtol=1e-6,
    atol=1e-12,
    mistakes=[
        (_tail_exclusive, "you computed P(X > hits): the p-value counts the observed number too, "
                          "P(X >= hits) (`binom.sf(hits - 1, n, q)`)."),
        (_pmf_only, "you computed the probability of exactly that many hits; the p-value is "
                    "the probability of at least that many."),
        (_cdf, "you took the lower tail, P(X <= hits): evidence of a copy is *many* hits, so "
               "the p-value is the upper tail."),
        (_rate_as_p, "one minus the hit rate is not a p-value: it ignores how often an innocent "
                     "model says the response by chance (`false_hit_rate`)."),
        (_q_power, "q ** hits ignores how many triggers were asked: 2 hits in 2 and 2 hits in 20 "
                   "are very different evidence. Use the binomial upper tail over all answers."),
        (_exact_match, "an answer *contains* the response when the model says more around it: "
                       "count `response in answer`, not equality."),
    ],
    hints=["Count the answers that contain `response` (`response in answer`).",
           "Under the null each of the n answers hits with probability `false_hit_rate`, "
           "independently: `scipy.stats.binom.sf(hits - 1, n, false_hit_rate)` is P(X >= hits)."],
    solution="```python\ndef fingerprint_p(answers, response, false_hit_rate):\n"
             "    hits = sum(response in a for a in answers)\n"
             "    return binom.sf(hits - 1, len(answers), false_hit_rate)\n```",
    correct_message="the false-hit rate is the whole question: measure it on models you know are "
                    "innocent, with strings that are not the triggers, as the lesson does.",
)


# --------------------------------------------------------------------------------------
# q2: a temperature floor
# --------------------------------------------------------------------------------------
def _floored(logits, temperature, floor):
    import torch
    t = max(float(temperature), float(floor))
    if t == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / t, dim=-1)


def _cases_q2():
    import torch
    g = torch.Generator().manual_seed(11)
    return [((torch.randn(3, 10, generator=g) * 2, 0.7, 1.2), {}),
            ((torch.randn(2, 8, generator=g) * 3, 1.5, 1.0), {}),     # above the floor: kept
            ((torch.randn(4, 6, generator=g), 0.0, 0.8), {}),          # greedy, raised to 0.8
            ((torch.randn(2, 12, generator=g) * 4, 0.0, 0.0), {}),     # no floor: greedy
            ((torch.randn(1, 5, generator=g), 1.0, 1.0), {})]


def _always_floor(logits, temperature, floor):
    import torch
    return torch.softmax(logits / max(float(floor), 1e-6), dim=-1)


def _min_not_max(logits, temperature, floor):
    return _floored(logits, min(temperature, floor) if min(temperature, floor) > 0 else 0.0, 0.0)


def _times(logits, temperature, floor):
    import torch
    t = max(float(temperature), float(floor))
    if t == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits * t, dim=-1)


def _requested_only(logits, temperature, floor):
    return _floored(logits, temperature, 0.0)


def _wrong_dim(logits, temperature, floor):
    import torch
    t = max(float(temperature), float(floor))
    if t == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / t, dim=0)


q2 = FunctionProblem(
    name="q2", var="floored_probs", reference=_floored, cases=_cases_q2, rtol=1e-5, atol=1e-7,
    mistakes=[
        (_always_floor, "you always sampled at the floor: a request asking for a *higher* "
                        "temperature keeps it (the temperature is max(requested, floor))."),
        (_min_not_max, "you took the smaller of the two: a floor raises low temperatures, "
                       "max(requested, floor)."),
        (_times, "you multiplied the logits by the temperature; divide them by it."),
        (_requested_only, "you ignored the floor: a greedy request (temperature 0) is sampled at "
                          "the floor too."),
        (_wrong_dim, "the softmax goes over the vocabulary, the last dimension (`dim=-1`), "
                     "one distribution per row."),
    ],
    hints=["The temperature used is `t = max(temperature, floor)`.",
           "When t is 0 (a greedy request and no floor), return a one-hot of each row's argmax; "
           "otherwise `torch.softmax(logits / t, dim=-1)`."],
    solution="```python\ndef floored_probs(logits, temperature, floor):\n"
             "    t = max(temperature, floor)\n"
             "    if t == 0:\n"
             "        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()\n"
             "    return torch.softmax(logits / t, dim=-1)\n```",
    correct_message="that is the whole defence: a distiller can no longer ask for the teacher's "
                    "most likely tokens, and neither can an honest user.",
)


# --------------------------------------------------------------------------------------
# q3: reading the Pareto plot
# --------------------------------------------------------------------------------------
_NAMES = ["none", "round 0", "noise 1.0", "top-1 only", "floor T=1.2", "floor T=1.5",
          "antidistill λ=0.3", "antidistill λ=1.0"]


def _table(gains, costs, names=_NAMES):
    import pandas as pd
    return pd.DataFrame({"gain": gains, "honest_cost": costs}, index=names[:len(gains)])


def _cases_q3():
    inf = float("inf")
    return [
        # noise, top-1 and floor 1.5 halve 0.10; noise is the cheapest of them; rounding is
        # cheapest of all and does not even lower the gain
        ((_table([0.10, 0.11, 0.04, 0.03, 0.07, 0.045, 0.055, 0.06],
                 [0.0, 0.02, 0.30, inf, 0.12, 0.35, 0.25, 0.8]),), {}),
        # exactly half counts as halved (floor 1.2), and it is the cheapest
        ((_table([0.08, 0.07, 0.06, -0.02, 0.04, 0.01, 0.05, 0.03],
                 [0.0, 0.2, 0.7, inf, 0.07, 0.38, 0.12, 0.77]),), {}),
        # nothing halves the gain
        ((_table([0.10, 0.09, 0.08, 0.07, 0.06, 0.055, 0.09, 0.06],
                 [0.0, 0.2, 0.7, inf, 0.07, 0.38, 0.12, 0.77]),), {}),
        # only withholding log-probabilities halves it
        ((_table([0.10, 0.09, 0.08, 0.02, 0.06, 0.055, 0.09, 0.06],
                 [0.0, 0.2, 0.7, inf, 0.07, 0.38, 0.12, 0.77]),), {}),
        # the lowest gain is not the cheapest halving row
        ((_table([0.12, 0.11, 0.05, -0.03, 0.02, -0.07, 0.04, -0.07],
                 [0.0, 0.2, 0.67, inf, 0.07, 0.38, 0.12, 0.77]),), {}),
    ]


def _strict(pareto):            # "less than half", not "at most half"
    base = pareto.loc["none", "gain"]
    rows = pareto.drop(index="none")
    halved = rows[rows["gain"] < base / 2]
    return "none" if halved.empty else str(halved["honest_cost"].idxmin())


def _any_lower(pareto):         # lowered at all, not halved
    base = pareto.loc["none", "gain"]
    rows = pareto.drop(index="none")
    lower = rows[rows["gain"] < base]
    return "none" if lower.empty else str(lower["honest_cost"].idxmin())


def _lowest_gain(pareto):       # the strongest defence, whatever it costs
    return str(pareto["gain"].idxmin())


def _cheapest_of_all(pareto):   # the cheapest defence, whether it halves the gain or not
    return str(pareto.drop(index="none")["honest_cost"].idxmin())


def _dearest(pareto):           # the largest cost among those that halve
    base = pareto.loc["none", "gain"]
    rows = pareto.drop(index="none")
    halved = rows[rows["gain"] <= base / 2]
    return "none" if halved.empty else str(halved["honest_cost"].idxmax())


q3 = FunctionProblem(
    name="q3", var="cheapest_halving", reference=_cheapest_halving, cases=_cases_q3,
    mistakes=[
        (_strict, "a defence whose gain is *exactly* half of the undefended one halves it too: "
                  "keep the rows with gain <= half."),
        (_any_lower, "you kept every defence that lowers the gain; the question asks for those "
                     "that at least *halve* it (gain <= half of the row 'none')."),
        (_lowest_gain, "you took the defence that takes the most from the distiller, whatever "
                       "its cost; among those that halve the gain, take the cheapest."),
        (_cheapest_of_all, "you took the cheapest defence, whether or not it halves the gain: "
                           "first keep the rows whose gain is at most half."),
        (_dearest, "among the defences that halve the gain you took the *dearest*: the question "
                   "asks for the smallest honest_cost (idxmin)."),
    ],
    hints=["First keep the rows other than 'none' whose gain is at most half of the row "
           "'none': `rows[rows.gain <= base / 2]`.",
           "Among those, the row label with the smallest honest_cost (`idxmin()`); 'none' when "
           "no row is left."],
    solution="```python\ndef cheapest_halving(pareto):\n"
             "    base = pareto.loc['none', 'gain']\n"
             "    rows = pareto.drop(index='none')\n"
             "    halved = rows[rows.gain <= base / 2]\n"
             "    return halved.honest_cost.idxmin() if len(halved) else 'none'\n```",
    correct_message="read the plot the same way: the point furthest down for the least "
                    "distance to the right.",
)
