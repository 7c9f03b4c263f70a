"""Lesson 11's corpus: the p-value of a fingerprint match, a temperature floor, reading the
defences' Pareto table."""
PRELUDE = ("import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"
           "from scipy.stats import binom\nfrom scipy import stats\n")


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
            "    return sum(math.comb(n, j) * q ** j * (1 - q) ** (n - j)\n"
            "               for j in range(k, n + 1))\n",
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
        "right": [
            "def cheapest_halving(pareto):\n"
            "    base = pareto.loc['none', 'gain']\n"
            "    rows = pareto.drop(index='none')\n"
            "    halved = rows[rows.gain <= base / 2]\n"
            "    return halved.honest_cost.idxmin() if len(halved) else 'none'\n",
            "def cheapest_halving(pareto):\n"
            "    best, best_cost = 'none', math.inf\n"
            "    base = pareto['gain']['none']\n"
            "    for name, row in pareto.iterrows():\n"
            "        if name == 'none' or row['gain'] * 2 > base:\n"
            "            continue\n"
            "        if best == 'none' or row['honest_cost'] < best_cost:\n"
            "            best, best_cost = name, row['honest_cost']\n"
            "    return best\n",
            "def cheapest_halving(pareto):\n"
            "    half = pareto.at['none', 'gain'] / 2\n"
            "    ok = pareto[(pareto.index != 'none') & (pareto['gain'] <= half)]\n"
            "    if ok.empty:\n"
            "        return 'none'\n"
            "    return ok.sort_values('honest_cost').index[0]\n",
        ],
        "wrong": [
            ("def cheapest_halving(pareto):\n"
             "    base = pareto.loc['none', 'gain']\n"
             "    rows = pareto.drop(index='none')\n"
             "    halved = rows[rows.gain < base / 2]\n"
             "    return halved.honest_cost.idxmin() if len(halved) else 'none'\n", "exactly"),
            ("def cheapest_halving(pareto):\n"
             "    base = pareto.loc['none', 'gain']\n"
             "    rows = pareto.drop(index='none')\n"
             "    lower = rows[rows.gain < base]\n"
             "    return lower.honest_cost.idxmin() if len(lower) else 'none'\n", "halve"),
            ("def cheapest_halving(pareto):\n"
             "    return pareto.gain.idxmin()\n", "whatever"),
            ("def cheapest_halving(pareto):\n"
             "    return pareto.drop(index='none').honest_cost.idxmin()\n", "whether or not"),
            ("def cheapest_halving(pareto):\n"
             "    base = pareto.loc['none', 'gain']\n"
             "    rows = pareto.drop(index='none')\n"
             "    halved = rows[rows.gain <= base / 2]\n"
             "    return halved.honest_cost.idxmax() if len(halved) else 'none'\n", "dearest"),
            ("def cheapest_halving(pareto):\n"
             "    base = pareto.loc['none', 'gain']\n"
             "    halved = pareto[pareto.gain <= base / 2]\n"
             "    return halved.honest_cost.idxmin()\n", "cheapest_halving\\("),
        ],
    },
}
