"""Lesson 12's corpus: Fisher's combined p-value, a rule's false-positive rate, the
terms-of-service verdicts."""
from course_utils.sources import TOS_CASES as _CASES

PRELUDE = "import math\nimport numpy as np\nfrom scipy import stats\n"

_RIGHT = {c["id"]: c["verdict"] for c in _CASES}


def _with(**changes):
    return {"verdicts": {**_RIGHT, **changes}}


CORPUS = {
    "q1": {
        "right": [
            "def fisher_combine(pvalues):\n"
            "    return stats.combine_pvalues(pvalues, method='fisher').pvalue\n",
            "def fisher_combine(pvalues):\n"
            "    x = -2 * np.sum(np.log(np.asarray(pvalues, dtype=float)))\n"
            "    return stats.chi2.sf(x, df=2 * len(pvalues))\n",
            # the closed form of the chi-squared tail with even degrees of freedom
            "def fisher_combine(pvalues):\n"
            "    h = -sum(math.log(p) for p in pvalues)\n"
            "    return math.exp(-h) * sum(h ** j / math.factorial(j) for j in range(len(pvalues)))\n",
            "def fisher_combine(pvalues):\n"
            "    x = 0.0\n"
            "    for p in pvalues:\n"
            "        x -= 2 * math.log(p)\n"
            "    return float(1 - stats.chi2.cdf(x, 2 * len(pvalues)))\n",
        ],
        "wrong": [
            ("def fisher_combine(pvalues):\n"
             "    x = -2 * sum(math.log(p) for p in pvalues)\n"
             "    return stats.chi2.sf(x, len(pvalues))\n", "2k"),
            ("def fisher_combine(pvalues):\n"
             "    x = -sum(math.log(p) for p in pvalues)\n"
             "    return stats.chi2.sf(x, 2 * len(pvalues))\n", "factor 2"),
            ("def fisher_combine(pvalues):\n"
             "    return -2 * sum(math.log(p) for p in pvalues)\n", "statistic"),
            ("def fisher_combine(pvalues):\n"
             "    return float(np.prod(pvalues))\n", "product"),
            ("def fisher_combine(pvalues):\n"
             "    x = -2 * sum(math.log10(p) for p in pvalues)\n"
             "    return stats.chi2.sf(x, 2 * len(pvalues))\n", "log10"),
            ("def fisher_combine(pvalues):\n"
             "    return min(pvalues)\n", "smallest"),
            ("def fisher_combine(pvalues):\n"
             "    return min(1.0, len(pvalues) * min(pvalues))\n", "Bonferroni"),
            ("def fisher_combine(pvalues):\n"
             "    x = -2 * sum(math.log(p) for p in pvalues)\n"
             "    return stats.chi2.cdf(x, 2 * len(pvalues))\n", "lower tail"),
            ("def fisher_combine(pvalues):\n"
             "    return float(np.mean(pvalues))\n", "fisher_combine\\("),
        ],
    },
    "q2": {
        "right": [
            "def false_positive_rate(clean_pvalues, alpha):\n"
            "    return float(np.mean(np.asarray(clean_pvalues) < alpha))\n",
            "def false_positive_rate(clean_pvalues, alpha):\n"
            "    flagged = 0\n"
            "    for p in clean_pvalues:\n"
            "        if p < alpha:\n"
            "            flagged += 1\n"
            "    return flagged / len(clean_pvalues)\n",
            "def false_positive_rate(clean_pvalues, alpha):\n"
            "    return len([p for p in clean_pvalues if not p >= alpha]) / len(clean_pvalues)\n",
        ],
        "wrong": [
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return sum(p <= alpha for p in clean_pvalues) / len(clean_pvalues)\n", "below"),
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return sum(p >= alpha for p in clean_pvalues) / len(clean_pvalues)\n", "clears"),
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return sum(p < alpha for p in clean_pvalues)\n", "divided"),
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return sum(p < alpha for p in clean_pvalues) / (len(clean_pvalues) + 1)\n",
             "one more"),
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return alpha\n", "promises"),
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return float(np.mean(clean_pvalues))\n", "mean p-value"),
            ("def false_positive_rate(clean_pvalues, alpha):\n"
             "    return sum(p > alpha for p in clean_pvalues) / len(clean_pvalues)\n",
             "false_positive_rate\\("),
        ],
    },
    "q3": {
        "right": [
            {"verdicts": dict(_RIGHT)},
            {"verdicts": {k: v.upper() for k, v in _RIGHT.items()}},
            {"verdicts": {k: f" {v} " for k, v in _RIGHT.items()}},
        ],
        "wrong": [
            ({"verdicts": {k: "forbidden" for k in _RIGHT}}, "differ"),
            ({"verdicts": {k: "allowed" for k in _RIGHT}}, "differ"),
            (_with(student="forbidden"), "compete"),
            (_with(**{"third-party-data": "forbidden"}), "binds"),
            (_with(**{"classifier-inhouse": "forbidden"}), "classify"),
            (_with(**{"r1-distill": "forbidden"}), "MIT"),
            (_with(scraper="allowed"), "automated"),
            ({"verdicts": {k: v for k, v in list(_RIGHT.items())[:-1]}}, "missing"),
            ({"verdicts": {**_RIGHT, "student": "maybe"}}, "one of"),
            ({"verdicts": list(_RIGHT.values())}, "dict"),
        ],
    },
}
