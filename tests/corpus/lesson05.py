"""Lesson 05's corpus: perplexity and the nucleus-sampling distribution."""

PRELUDE = "import math\nimport torch\nimport numpy as np\n"

_NUCLEUS = '''
def sampling_distribution(logits, temperature, top_p):
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    cum = sorted_probs.cumsum(-1)
{keep}
    mask = torch.zeros_like(probs, dtype=torch.bool)
    mask[order[keep_sorted]] = True
    kept = torch.where(mask, probs, torch.zeros_like(probs))
    return kept / kept.sum()
'''


def _nucleus(keep):
    return _NUCLEUS.format(keep=keep)


CORPUS = {
    "q1": {
        "right": [
            "def perplexity_from_losses(token_losses):\n    return math.exp(token_losses.mean().item())\n",
            "def perplexity_from_losses(token_losses):\n    return torch.exp(token_losses.mean())\n",
            "def perplexity_from_losses(token_losses):\n    return np.exp(np.mean(token_losses.numpy()))\n",
            "def perplexity_from_losses(token_losses):\n"
            "    return math.exp(sum(token_losses.tolist()) / len(token_losses))\n",
        ],
        "wrong": [
            ("def perplexity_from_losses(l):\n    return l.mean().item()\n", "exponential"),
            ("def perplexity_from_losses(l):\n    return l.exp().mean().item()\n", "exp of every token"),
            ("def perplexity_from_losses(l):\n    return 2 ** l.mean().item()\n", "nats"),
            ("def perplexity_from_losses(l):\n    return math.exp(l.sum().item())\n", "\\*sum\\*"),
            ("def perplexity_from_losses(l):\n    return torch.exp(l)\n", "single number"),
            ("def perplexity_from_losses(l):\n    return math.exp(l.mean().item() / len(l))\n",
             "len-th root"),
            ("def perplexity_from_losses(l):\n    return math.log(l.mean().item())\n", "perplexity_from_losses\\("),
        ],
    },
    "q2": {
        "right": [
            _nucleus("    keep_sorted = (cum - sorted_probs) < top_p"),
            _nucleus("    n = int((cum < top_p).sum().item()) + 1\n"
                     "    keep_sorted = torch.arange(len(probs)) < n"),
            '''
def sampling_distribution(logits, temperature, top_p):
    p = torch.softmax(logits / temperature, -1)
    order = torch.argsort(p, descending=True)
    out = torch.zeros_like(p)
    total = 0.0
    for i in order.tolist():
        out[i] = p[i]
        total += p[i].item()
        if total >= top_p:
            break
    return out / out.sum()
''',
        ],
        "wrong": [
            ('''
def sampling_distribution(logits, temperature, top_p):
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep[order[(sorted_probs.cumsum(-1) - sorted_probs) < top_p]] = True
    return probs * keep
''', "renormalised"),
            (_nucleus("    keep_sorted = cum <= top_p\n    keep_sorted[0] = True"), "\\*smallest\\*"),
            ('''
def sampling_distribution(logits, temperature, top_p):
    probs = torch.softmax(logits * temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep[order[(sorted_probs.cumsum(-1) - sorted_probs) < top_p]] = True
    return probs * keep / (probs * keep).sum()
''', "multiplied"),
            ('''
def sampling_distribution(logits, temperature, top_p):
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    kept = sorted_probs * ((sorted_probs.cumsum(-1) - sorted_probs) < top_p)
    return kept / kept.sum()
''', "sorted"),
            ('''
def sampling_distribution(logits, temperature, top_p):
    base = torch.softmax(logits, dim=-1)
    sorted_probs, order = base.sort(descending=True)
    keep = torch.zeros_like(base, dtype=torch.bool)
    keep[order[(sorted_probs.cumsum(-1) - sorted_probs) < top_p]] = True
    probs = torch.softmax(logits / temperature, dim=-1) * keep
    return probs / probs.sum()
''', "temperature first"),
            (_nucleus("    keep_sorted = cum < top_p"), "NaN|sampling_distribution\\("),
            ('''
def sampling_distribution(logits, temperature, top_p):
    logits /= temperature
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep[order[(sorted_probs.cumsum(-1) - sorted_probs) < top_p]] = True
    return probs * keep / (probs * keep).sum()
''', "changed its argument `logits`"),
        ],
    },
}
