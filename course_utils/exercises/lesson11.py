"""Questions of lesson 11 (fingerprints and defences): how strong a fingerprint's evidence is,
a temperature floor, and reading the defences' Pareto plot."""
from __future__ import annotations

import math

import numpy as np

from .core import CustomProblem, FunctionProblem, Incorrect, ____, describe

__all__ = ["q1", "q2", "q3", "____"]


# --------------------------------------------------------------------------------------
# q1: the p-value of a fingerprint test
# --------------------------------------------------------------------------------------
def _fingerprint_p(answers, response, false_hit_rate):
    from scipy.stats import binom
    n = len(answers)
    hits = sum(1 for a in answers if isinstance(a, str) and response in a)
    return float(binom.sf(hits - 1, n, false_hit_rate))


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
def cheapest_halving(pareto) -> str:
    """The defence (a row label of ``pareto``) whose ``gain`` is at most half of the row
    ``"none"``'s, with the lowest ``honest_cost``; ``"none"`` when no defence halves it."""
    base = float(pareto.loc["none", "gain"])
    rows = pareto.drop(index="none")
    halved = rows[rows["gain"] <= base / 2]
    if halved.empty:
        return "none"
    return str(halved["honest_cost"].astype(float).idxmin())


def _check_q3(cheapest, pareto):
    import pandas as pd
    if not isinstance(pareto, pd.DataFrame) or not {"gain", "honest_cost"} <= set(pareto.columns) \
            or "none" not in pareto.index:
        raise Incorrect("`pareto` is not the lesson's table any more (a DataFrame with the "
                        "columns gain and honest_cost, and a row 'none'): run the cell that "
                        "makes it again.")
    if not isinstance(cheapest, str):
        raise Incorrect(f"`cheapest` should be the name of a defence (a row of `pareto`) as a "
                        f"str, but it is {describe(cheapest)}.")
    answer = cheapest.strip()
    right = cheapest_halving(pareto)
    names = ", ".join(repr(n) for n in pareto.index)
    if answer not in pareto.index:
        raise Incorrect(f"{answer!r} is not a row of `pareto`: the rows are {names}.")
    if answer == right:
        return
    base = float(pareto.loc["none", "gain"])
    gain = float(pareto.loc[answer, "gain"])
    if answer == "none":
        raise Incorrect(f"at least one defence brings the gain down to half of {base:.4f} or "
                        f"less: look at the gain column again.")
    if gain > base / 2:
        raise Incorrect(f"{answer!r} leaves the student a gain of {gain:.4f}, more than half of "
                        f"the undefended {base:.4f}: it does not halve it.")
    raise Incorrect(f"{answer!r} halves the gain, but another defence that does costs honest "
                    f"users less (honest_cost {float(pareto.loc[answer, 'honest_cost']):.4f} "
                    f"here): compare the honest_cost of every row that halves it.")


q3 = CustomProblem(
    name="q3", vars=["cheapest", "pareto"], checker=_check_q3,
    hints=["First keep the rows whose gain is at most half of the row 'none'.",
           "Among those, the one with the smallest honest_cost. If no row is left, answer "
           "'none'."],
    solution="```python\nbase = pareto.loc['none', 'gain']\n"
             "halved = pareto[(pareto.index != 'none') & (pareto.gain <= base / 2)]\n"
             "cheapest = halved.honest_cost.idxmin() if len(halved) else 'none'\n```",
    correct_message="read the plot the same way: the point furthest down for the least "
                    "distance to the right.",
)
