"""Lesson 11's corpus: the p-value of a fingerprint match, a temperature floor, reading the
defences' Pareto table."""
import numpy as np
import pandas as pd

PRELUDE = ("import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"
           "from scipy.stats import binom\nfrom scipy import stats\n")


def _pareto(gains, costs):
    names = ["none", "round 0", "noise 1.0", "top-1 only", "floor T=1.3", "floor T=1.7",
             "antidistill λ=1.0"]
    return pd.DataFrame({"gain": gains, "honest_cost": costs}, index=names)


def _table():
    # undefended gain 0.10: noise, top-1 and floor 1.7 halve it; noise is the cheapest of them
    return _pareto([0.10, 0.09, 0.04, 0.03, 0.07, 0.045, 0.055],
                   [0.0, 0.02, 0.30, np.inf, 0.12, 0.35, 0.25])


def _answer(name):
    return lambda: {"cheapest": name, "pareto": _table()}


CORPUS = {
    "q1": {
        "right": [
            "def fingerprint_p(answers, response, false_hit_rate):\n"
            "    hits = sum(response in a for a in answers)\n"
            "    return binom.sf(hits - 1, len(answers), false_hit_rate)\n",
            "def fingerprint_p(answers, response, false_hit_rate):\n"
            "    n = len(answers)\n"
            "    k = sum(1 for a in answers if a.find(response) >= 0)\n"
            "    q = false_hit_rate\n"
            "    return sum(math.comb(n, j) * q ** j * (1 - q) ** (n - j) for j in range(k, n + 1))\n",
            "def fingerprint_p(answers, response, false_hit_rate):\n"
            "    k = int(np.sum([response in a for a in answers]))\n"
            "    return 1.0 - stats.binom.cdf(k - 1, len(answers), false_hit_rate)\n",
        ],
        "wrong": [
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    hits = sum(response in a for a in answers)\n"
             "    return binom.sf(hits, len(answers), false_hit_rate)\n", "P\\(X > hits\\)"),
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    hits = sum(response in a for a in answers)\n"
             "    return binom.pmf(hits, len(answers), false_hit_rate)\n", "exactly"),
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    hits = sum(response in a for a in answers)\n"
             "    return binom.cdf(hits, len(answers), false_hit_rate)\n", "lower tail"),
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    return 1 - sum(response in a for a in answers) / len(answers)\n",
             "not a p-value"),
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    return false_hit_rate ** sum(response in a for a in answers)\n",
             "how many triggers"),
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    hits = sum(a == response for a in answers)\n"
             "    return binom.sf(hits - 1, len(answers), false_hit_rate)\n", "contains"),
            ("def fingerprint_p(answers, response, false_hit_rate):\n"
             "    hits = sum(response in a for a in answers)\n"
             "    return binom.sf(hits - 1, len(answers), 0.5)\n", "fingerprint_p\\("),
        ],
    },
    "q2": {
        "right": [
            "def floored_probs(logits, temperature, floor):\n"
            "    t = max(temperature, floor)\n"
            "    if t == 0:\n"
            "        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()\n"
            "    return torch.softmax(logits / t, dim=-1)\n",
            "def floored_probs(logits, temperature, floor):\n"
            "    t = temperature if temperature > floor else floor\n"
            "    if t <= 0:\n"
            "        out = torch.zeros_like(logits)\n"
            "        out[torch.arange(len(logits)), logits.argmax(dim=1)] = 1.0\n"
            "        return out\n"
            "    e = torch.exp((logits - logits.max(dim=-1, keepdim=True).values) / t)\n"
            "    return e / e.sum(dim=-1, keepdim=True)\n",
            "def floored_probs(logits, temperature, floor):\n"
            "    t = max(float(temperature), float(floor))\n"
            "    if t == 0.0:\n"
            "        return (logits == logits.max(-1, keepdim=True).values).to(logits.dtype)\n"
            "    return F.softmax(logits / t, -1)\n",
        ],
        "wrong": [
            ("def floored_probs(logits, temperature, floor):\n"
             "    return torch.softmax(logits / max(floor, 1e-6), dim=-1)\n", "always sampled"),
            ("def floored_probs(logits, temperature, floor):\n"
             "    t = min(temperature, floor)\n"
             "    if t == 0:\n"
             "        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()\n"
             "    return torch.softmax(logits / t, dim=-1)\n", "smaller"),
            ("def floored_probs(logits, temperature, floor):\n"
             "    t = max(temperature, floor)\n"
             "    if t == 0:\n"
             "        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()\n"
             "    return torch.softmax(logits * t, dim=-1)\n", "multiplied"),
            ("def floored_probs(logits, temperature, floor):\n"
             "    if temperature == 0:\n"
             "        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()\n"
             "    return torch.softmax(logits / temperature, dim=-1)\n", "ignored the floor"),
            ("def floored_probs(logits, temperature, floor):\n"
             "    t = max(temperature, floor)\n"
             "    if t == 0:\n"
             "        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()\n"
             "    return torch.softmax(logits / t, dim=0)\n", "last dimension"),
            ("def floored_probs(logits, temperature, floor):\n"
             "    t = max(temperature, floor) or 1.0\n"
             "    return torch.softmax(logits / t, dim=-1)\n", "floored_probs\\("),
            ("def floored_probs(logits, temperature, floor):\n"
             "    logits /= max(temperature, floor, 1e-6)\n"
             "    return torch.softmax(logits, dim=-1)\n", "changed"),
        ],
    },
    "q3": {
        "right": [_answer("noise 1.0"), _answer(" noise 1.0 ")],
        "wrong": [
            (_answer("round 0"), "does not halve"),
            (_answer("antidistill λ=1.0"), "does not halve"),
            (_answer("floor T=1.7"), "costs honest users less"),
            (_answer("top-1 only"), "costs honest users less"),
            (_answer("none"), "at least one defence"),
            (_answer("noise"), "not a row"),
            (lambda: {"cheapest": 2, "pareto": _table()}, "as a str"),
            (lambda: {"cheapest": "noise 1.0", "pareto": [0.1, 0.2]}, "not the lesson's table"),
        ],
    },
}
