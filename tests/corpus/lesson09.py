"""Lesson 09's corpus: a feature from the log, the PRADA statistic, the 1% threshold."""

PRELUDE = ("import math\nimport numpy as np\nimport pandas as pd\n"
           "from scipy.stats import shapiro\n")

CORPUS = {
    "q1": {
        "right": [
            "def logprob_share(log, account):\n"
            "    rows = log[log.key_name == account]\n"
            "    return (rows.top_logprobs.fillna(0) > 0).sum() / len(rows)\n",
            "def logprob_share(log, account):\n"
            "    flags = [t > 0 for t, k in zip(log.top_logprobs, log.key_name)\n"
            "             if k == account and not math.isnan(t)]\n"
            "    n = sum(1 for k in log.key_name if k == account)\n"
            "    return sum(flags) / n\n",
            "def logprob_share(log, account):\n"
            "    return float(log.query('key_name == @account').top_logprobs.gt(0).mean())\n",
            "def logprob_share(log, account):\n"
            "    g = log.assign(lp=log.top_logprobs.fillna(0).ge(1)).groupby('key_name').lp.mean()\n"
            "    return g[account]\n",
        ],
        "wrong": [
            ("def logprob_share(log, account):\n"
             "    return (log.top_logprobs.fillna(0) > 0).mean()\n", "whole log"),
            ("def logprob_share(log, account):\n"
             "    return float((log[log.key_name == account].top_logprobs > 0).sum())\n", "count"),
            ("def logprob_share(log, account):\n"
             "    return log[log.key_name == account].top_logprobs.notna().mean()\n", "notna"),
            ("def logprob_share(log, account):\n"
             "    return (log[log.key_name == account].top_logprobs.dropna() > 0).mean()\n",
             "refused"),
            ("def logprob_share(log, account):\n"
             "    return log[log.key_name == account].top_logprobs.fillna(0).mean()\n",
             "mean number"),
            ("def logprob_share(log, account):\n"
             "    return (log[log.key_name == account].top_logprobs > 1).mean()\n", "> 0"),
            ("def logprob_share(log, account):\n"
             "    rows = log[(log.key_name == account) & (log.status == 200)]\n"
             "    return (rows.top_logprobs > 0).mean()\n", "refused"),
            ("def logprob_share(log, account):\n"
             "    rows = log[log.key_name == account]\n"
             "    (rows.top_logprobs > 0).mean()\n", "returned None"),
        ],
    },
    "q2": {
        "right": [
            "def prada_w(vectors):\n"
            "    d = [np.linalg.norm(vectors[:i] - vectors[i], axis=1).min() for i in range(1, len(vectors))]\n"
            "    return shapiro(d).statistic\n",
            "def prada_w(vectors):\n"
            "    from scipy.spatial.distance import cdist\n"
            "    D = cdist(vectors, vectors)\n"
            "    d = np.array([D[i, :i].min() for i in range(1, len(D))])\n"
            "    return float(shapiro(d)[0])\n",
            "def prada_w(vectors):\n"
            "    dists = []\n"
            "    for i in range(1, len(vectors)):\n"
            "        best = math.inf\n"
            "        for j in range(i):\n"
            "            best = min(best, math.sqrt(sum((a - b) ** 2 for a, b in zip(vectors[i], vectors[j]))))\n"
            "        dists.append(best)\n"
            "    return shapiro(np.array(dists)).statistic\n",
        ],
        "wrong": [
            ("def prada_w(v):\n"
             "    D = np.linalg.norm(v[:, None] - v[None], axis=-1)\n"
             "    np.fill_diagonal(D, np.inf)\n"
             "    return shapiro(D.min(1)).statistic\n", "earlier"),
            ("def prada_w(v):\n"
             "    return shapiro(np.linalg.norm(np.diff(v, axis=0), axis=1)).statistic\n",
             "just before"),
            ("def prada_w(v):\n"
             "    d = [np.linalg.norm(v[:i] - v[i], axis=1).mean() for i in range(1, len(v))]\n"
             "    return shapiro(d).statistic\n", "mean distance"),
            ("def prada_w(v):\n"
             "    d = [((v[:i] - v[i]) ** 2).sum(1).min() for i in range(1, len(v))]\n"
             "    return shapiro(d).statistic\n", "squared"),
            ("def prada_w(v):\n"
             "    d = [np.linalg.norm(v[:i] - v[i], axis=1).min() for i in range(1, len(v))]\n"
             "    return shapiro(d).pvalue\n", "p-value"),
            ("def prada_w(v):\n"
             "    d = [np.abs(v[:i] - v[i]).sum(1).min() for i in range(1, len(v))]\n"
             "    return shapiro(d).statistic\n", "prada_w\\("),
            ("def prada_w(v):\n"
             "    d = [np.linalg.norm(v[:i + 1] - v[i], axis=1).min() for i in range(1, len(v))]\n"
             "    return shapiro(d).statistic\n", "prada_w\\("),
        ],
    },
    "q3": {
        "right": [
            "def threshold_for(scores, labels, max_fpr=0.01):\n"
            "    honest = np.sort(scores[labels == 0])[::-1]\n"
            "    k = int(np.floor(max_fpr * len(honest)))\n"
            "    return np.nextafter(honest[k], np.inf)\n",
            "def threshold_for(scores, labels, max_fpr=0.01):\n"
            "    honest = sorted(s for s, y in zip(scores, labels) if y == 0)\n"
            "    for t in sorted(set(scores)) + [max(scores) + 1]:\n"
            "        if sum(h >= t for h in honest) <= max_fpr * len(honest):\n"
            "            return t\n",
            "def threshold_for(scores, labels, max_fpr=0.01):\n"
            "    honest = np.sort(scores[labels == 0])\n"
            "    allowed = math.floor(max_fpr * len(honest))\n"
            "    return honest[len(honest) - allowed - 1] + 1e-9\n",
        ],
        "wrong": [
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    return np.quantile(scores[labels == 0], 1 - max_fpr)\n", "honest accounts are flagged"),
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    return np.quantile(scores, 1 - max_fpr)\n", "higher than it needs"),
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    return scores[labels == 0].max()\n", "higher than it needs"),
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    return scores[labels == 0].max() + 1e-9\n", "higher than it needs"),
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    honest = np.sort(scores[labels == 0])[::-1]\n"
             "    return honest[int(max_fpr * len(scores))] + 1e-9\n", "honest accounts are flagged"),
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    return scores.max() + 1\n", "higher than it needs"),
            ("def threshold_for(scores, labels, max_fpr=0.01):\n"
             "    honest = np.sort(scores[labels == 0])[::-1]\n"
             "    k = int(np.floor(max_fpr * len(honest)))\n"
             "    return honest[k]\n", "honest accounts are flagged"),
        ],
    },
}
