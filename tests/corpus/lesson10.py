"""Lesson 10's corpus: the green-list step, the z-score of a text, the de-duplicated
radioactivity score."""

PRELUDE = "import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"

_DEDUP = '''
def dedup_z(samples, prompts, green, gamma):
    banned = {{(a, b) for p in prompts for a, b in zip(p[:-1], p[1:])}}
    pairs = {container}
    for p, s in zip(prompts, samples):
        ids = {ids}
        for q in zip(ids[:-1], ids[1:]):
            {add}
    {remove}
    g = sum(bool(green[a, b]) for a, b in pairs)
    n = len(pairs)
    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))
'''


def _dedup(container="set()", ids="p[-1:] + list(s)", add="pairs.add(q)",
           remove="pairs -= banned"):
    return _DEDUP.format(container=container, ids=ids, add=add, remove=remove)


CORPUS = {
    "q1": {
        "right": [
            "def green_step(scores, input_ids, green, delta):\n"
            "    return scores + delta * green[input_ids[:, -1]].float()\n",
            "def green_step(scores, input_ids, green, delta):\n"
            "    out = scores.clone()\n"
            "    for r in range(scores.shape[0]):\n"
            "        out[r, green[int(input_ids[r, -1])]] += delta\n"
            "    return out\n",
            "def green_step(scores, input_ids, green, delta):\n"
            "    return torch.where(green[input_ids[:, -1]], scores + delta, scores)\n",
            "def green_step(scores, input_ids, green, delta):\n"
            "    mask = green.index_select(0, input_ids[:, -1]).to(scores.dtype)\n"
            "    return scores.add(mask, alpha=delta)\n",
        ],
        "wrong": [
            ("def green_step(scores, input_ids, green, delta):\n"
             "    return scores + delta * green[input_ids[:, 0]].float()\n", "first"),
            ("def green_step(scores, input_ids, green, delta):\n"
             "    return scores + delta * green[:, input_ids[:, -1]].T.float()\n", "column"),
            ("def green_step(scores, input_ids, green, delta):\n"
             "    return scores + delta * (~green[input_ids[:, -1]]).float()\n", "red"),
            ("def green_step(scores, input_ids, green, delta):\n"
             "    return scores + delta\n", "every logit"),
            ("def green_step(scores, input_ids, green, delta):\n"
             "    return scores + delta * green[input_ids[0, -1]].float()\n", "each row"),
            ("def green_step(scores, input_ids, green, delta):\n"
             "    scores[green[input_ids[:, -1]]] += delta\n"
             "    return scores\n", "changed its argument"),
            ("def green_step(scores, input_ids, green, delta):\n"
             "    return F.softmax(scores + delta * green[input_ids[:, -1]].float(), -1)\n",
             "green_step\\("),
        ],
    },
    "q2": {
        "right": [
            "def text_z(ids, green, gamma):\n"
            "    pairs = list(zip(ids[:-1], ids[1:]))\n"
            "    g = sum(bool(green[p, t]) for p, t in pairs)\n"
            "    n = len(pairs)\n"
            "    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n",
            "def text_z(ids, green, gamma):\n"
            "    t = torch.tensor(ids)\n"
            "    hits = green[t[:-1], t[1:]].float()\n"
            "    n = hits.numel()\n"
            "    return float((hits.mean() - gamma) / math.sqrt(gamma * (1 - gamma) / n))\n",
            "def text_z(ids, green, gamma):\n"
            "    g, n = 0, 0\n"
            "    for i in range(1, len(ids)):\n"
            "        g += int(green[ids[i - 1]][ids[i]])\n"
            "        n += 1\n"
            "    return (g - n * gamma) / (n * gamma * (1 - gamma)) ** 0.5\n",
            "def text_z(ids, green, gamma):\n"
            "    a = np.asarray(ids)\n"
            "    g = green.numpy()[a[:-1], a[1:]].sum()\n"
            "    n = len(a) - 1\n"
            "    return (g / n - gamma) * np.sqrt(n) / np.sqrt(gamma * (1 - gamma))\n",
        ],
        "wrong": [
            ("def text_z(ids, green, gamma):\n"
             "    g = sum(bool(green[a, b]) for a, b in zip(ids[:-1], ids[1:]))\n"
             "    n = len(ids)\n"
             "    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n", "first token"),
            ("def text_z(ids, green, gamma):\n"
             "    g = sum(bool(green[b, a]) for a, b in zip(ids[:-1], ids[1:]))\n"
             "    n = len(ids) - 1\n"
             "    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n", "previous"),
            ("def text_z(ids, green, gamma):\n"
             "    g = sum(bool(green[a, b]) for a, b in zip(ids[:-1], ids[1:]))\n"
             "    n = len(ids) - 1\n"
             "    return (g - gamma * n) / (n * gamma * (1 - gamma))\n", "square root"),
            ("def text_z(ids, green, gamma):\n"
             "    g = sum(bool(green[a, b]) for a, b in zip(ids[:-1], ids[1:]))\n"
             "    n = len(ids) - 1\n"
             "    return (g / n - gamma) / math.sqrt(gamma * (1 - gamma))\n", "fraction"),
            ("def text_z(ids, green, gamma):\n"
             "    g = sum(bool(green[a, b]) for a, b in zip(ids[:-1], ids[1:]))\n"
             "    n = len(ids) - 1\n"
             "    return (g - gamma * n) / math.sqrt(n * gamma)\n", "not n·gamma"),
            ("def text_z(ids, green, gamma):\n"
             "    pairs = set(zip(ids[:-1], ids[1:]))\n"
             "    g = sum(bool(green[a, b]) for a, b in pairs)\n"
             "    n = len(pairs)\n"
             "    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n", "repeats"),
            ("def text_z(ids, green, gamma):\n"
             "    g = sum(bool(green[a, b]) for a, b in zip(ids[:-1], ids[1:]))\n"
             "    n = len(ids) - 1\n"
             "    return abs(g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n", "text_z\\("),
        ],
    },
    "q3": {
        "right": [
            _dedup(),
            _dedup(container="{}", add="pairs[q] = True",
                   remove="pairs = [q for q in pairs if q not in banned]"),
            '''
def dedup_z(samples, prompts, green, gamma):
    banned = set()
    for p in prompts:
        banned.update(zip(p, p[1:]))
    seen = []
    for p, s in zip(prompts, samples):
        seq = [p[-1]] + s
        for i in range(1, len(seq)):
            q = (seq[i - 1], seq[i])
            if q not in banned and q not in seen:
                seen.append(q)
    hits = np.array([bool(green[a, b]) for a, b in seen], dtype=float)
    n = len(hits)
    return float((hits.sum() - n * gamma) / np.sqrt(n * gamma * (1 - gamma)))
''',
        ],
        "wrong": [
            (_dedup(container="[]", add="pairs.append(q)",
                    remove="pairs = [q for q in pairs if q not in banned]"), "repeated pairs"),
            ('''
def dedup_z(samples, prompts, green, gamma):
    banned = {(a, b) for p in prompts for a, b in zip(p[:-1], p[1:])}
    pairs = []
    for p, s in zip(prompts, samples):
        ids = p[-1:] + list(s)
        pairs += [q for q in set(zip(ids[:-1], ids[1:])) if q not in banned]
    g = sum(bool(green[a, b]) for a, b in pairs)
    n = len(pairs)
    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))
''', "within each text"),
            (_dedup(remove="pass"), "left out"),
            (_dedup(ids="list(p) + list(s)", remove="pass"), "not the student's"),
            (_dedup(ids="list(s)"), "first token follows"),
            (_dedup(remove="pairs = {q for q in pairs if q not in set(zip(prompts[0][:-1], prompts[0][1:]))}"),
             "dedup_z\\("),
        ],
    },
}
