"""Questions of lesson 10 (watermarks and radioactivity): the green-list step, the z-score of
a text, the de-duplicated radioactivity score."""
from __future__ import annotations

import math

from ..watermark import Watermark as _Watermark
from ..watermark import dedup_score as _dedup_score
from ..watermark import score_ids as _score_ids
from .core import FunctionProblem, ____

__all__ = ["q1", "q2", "q3", "____"]


def _green(vocab, gamma, seed):
    """A (vocab, vocab) green-list matrix, rows different from columns (so that a transposed
    lookup gives another answer)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    k = int(vocab * gamma)
    order = torch.rand(vocab, vocab, generator=g).argsort(dim=1)[:, :k]
    m = torch.zeros(vocab, vocab, dtype=torch.bool)
    m.scatter_(1, order, True)
    return m


# --------------------------------------------------------------------------------------
# q1: the green-list step
# --------------------------------------------------------------------------------------
def _bias(scores, input_ids, green, delta):
    return _Watermark.from_matrix(green, gamma=0.25, delta=delta).bias_logits(input_ids, scores)


def _cases_q1():
    import torch
    g = torch.Generator().manual_seed(7)
    out = []
    for batch, length, vocab, delta in [(3, 5, 12, 2.0), (4, 2, 10, 1.5), (1, 1, 8, 3.0),
                                        (5, 7, 16, -0.5)]:
        green = _green(vocab, 0.25, seed=vocab + length)
        ids = torch.randint(0, vocab, (batch, length), generator=g)
        if length > 1:
            ids[:, 0] = (ids[:, -1] + 1) % vocab        # first token differs from the last
        out.append(((torch.randn(batch, vocab, generator=g), ids, green, delta), {}))
    return out


def _first_token(scores, input_ids, green, delta):
    return scores + delta * green[input_ids[:, 0]].float()


def _transposed(scores, input_ids, green, delta):
    return scores + delta * green[:, input_ids[:, -1]].T.float()


def _red(scores, input_ids, green, delta):
    return scores + delta * (~green[input_ids[:, -1]]).float()


def _times(scores, input_ids, green, delta):
    return scores * (1 + (delta - 1) * green[input_ids[:, -1]].float())


def _all(scores, input_ids, green, delta):
    return scores + delta


def _first_row(scores, input_ids, green, delta):
    return scores + delta * green[input_ids[0, -1]].float()


q1 = FunctionProblem(
    name="q1", var="green_step", reference=_bias, cases=_cases_q1, rtol=1e-5, atol=1e-6,
    mistakes=[
        (_first_token, "you seeded the green list with the *first* token of each row; the "
                       "watermark uses the token just before the one being chosen (`input_ids[:, -1]`)."),
        (_transposed, "you read a *column* of `green`: row `p` of the matrix is the green list "
                      "after token `p` (`green[prev]`)."),
        (_red, "you raised the *red* tokens: the bias goes to the green list."),
        (_times, "you multiplied the green logits; the watermark *adds* delta to them."),
        (_all, "you added delta to every logit, which changes nothing after the softmax: only "
               "the green tokens get it."),
        (_first_row, "every row used the green list of the first example's last token: each "
                     "row of the batch has its own previous token."),
    ],
    hints=["`green[input_ids[:, -1]]` is a `(batch, vocab)` boolean mask: each row's green list.",
           "Return `scores + delta * mask` (as a float), a new tensor."],
    solution="```python\ndef green_step(scores, input_ids, green, delta):\n"
             "    mask = green[input_ids[:, -1]]\n"
             "    return scores + delta * mask.to(scores.dtype)\n```",
    correct_message="that is the whole watermark: a bias of delta on a list only the key can "
                    "recompute.",
)


# --------------------------------------------------------------------------------------
# q2: the z-score of a text
# --------------------------------------------------------------------------------------
def _text_z(ids, green, gamma):
    return _score_ids(ids, _Watermark.from_matrix(green, gamma=gamma))["z"]


def _cases_q2():
    import random
    rng = random.Random(3)
    out = []
    for vocab, gamma, length, seed, lean in [(12, 0.25, 30, 1, True), (20, 0.5, 41, 2, True),
                                             (10, 0.3, 25, 3, True), (16, 0.25, 60, 4, True),
                                             (14, 0.5, 33, 5, False)]:
        green = _green(vocab, gamma, seed)
        ids = [rng.randrange(vocab)]
        for _ in range(length - 1):   # a text leaning green (or red), with repeats
            row = (green[ids[-1]] if lean else ~green[ids[-1]]).nonzero().flatten().tolist()
            ids.append(rng.choice(row) if rng.random() < 0.6 else rng.randrange(vocab))
        out.append(((ids, green, gamma), {}))
    return out


def _pairs(ids):
    return list(zip(ids[:-1], ids[1:]))


def _z(g, n, gamma):
    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))


def _all_tokens(ids, green, gamma):   # n counts the first token too
    g = sum(bool(green[a, b]) for a, b in _pairs(ids))
    return _z(g, len(ids), gamma)


def _swapped(ids, green, gamma):
    g = sum(bool(green[b, a]) for a, b in _pairs(ids))
    return _z(g, len(ids) - 1, gamma)


def _no_sqrt(ids, green, gamma):
    g = sum(bool(green[a, b]) for a, b in _pairs(ids))
    n = len(ids) - 1
    return (g - gamma * n) / (n * gamma * (1 - gamma))


def _no_n(ids, green, gamma):
    g = sum(bool(green[a, b]) for a, b in _pairs(ids))
    n = len(ids) - 1
    return (g / n - gamma) / math.sqrt(gamma * (1 - gamma))


def _var_gamma(ids, green, gamma):
    g = sum(bool(green[a, b]) for a, b in _pairs(ids))
    n = len(ids) - 1
    return (g - gamma * n) / math.sqrt(n * gamma)


def _unique(ids, green, gamma):
    pairs = set(_pairs(ids))
    g = sum(bool(green[a, b]) for a, b in pairs)
    return _z(g, len(pairs), gamma)


q2 = FunctionProblem(
    name="q2", var="text_z", reference=_text_z, cases=_cases_q2, rtol=1e-6, atol=1e-9,
    mistakes=[
        (_all_tokens, "you counted the first token too: nothing seeds its green list, so a text "
                      "of L tokens has L - 1 scored tokens."),
        (_swapped, "the green list is seeded by the *previous* token: token `ids[i]` is green when "
                   "`green[ids[i - 1], ids[i]]`."),
        (_no_sqrt, "the standard deviation of the count is the *square root* of n·gamma·(1 - gamma)."),
        (_no_n, "that is the z of the green *fraction* without its 1/sqrt(n): the z grows with "
                "the length of the text."),
        (_var_gamma, "the variance of a binomial count is n·gamma·(1 - gamma), not n·gamma."),
        (_unique, "here every scored token counts, repeats included (as transformers' detector "
                  "does by default); de-duplication is exercise 3's job."),
    ],
    hints=["The scored pairs are `zip(ids[:-1], ids[1:])`; count those with `green[prev, tok]`.",
           "z = (green - gamma·n) / sqrt(n·gamma·(1 - gamma)) with n = len(ids) - 1."],
    solution="```python\ndef text_z(ids, green, gamma):\n"
             "    pairs = list(zip(ids[:-1], ids[1:]))\n"
             "    g = sum(bool(green[p, t]) for p, t in pairs)\n"
             "    n = len(pairs)\n"
             "    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n```",
    correct_message="the one-proportion z-test of Kirchenbauer et al.: above 4, a human "
                    "almost never writes that.",
)


# --------------------------------------------------------------------------------------
# q3: the de-duplicated radioactivity score
# --------------------------------------------------------------------------------------
def _dedup(samples, prompts, green, gamma):
    return _dedup_score(samples, _Watermark.from_matrix(green, gamma=gamma), prompts)["z"]


def _cases_q3():
    import random
    rng = random.Random(11)
    out = []
    for vocab, gamma, n_texts, seed in [(12, 0.25, 6, 5), (16, 0.5, 8, 6), (10, 0.25, 5, 7)]:
        green = _green(vocab, gamma, seed)
        prompts, samples = [], []
        for _ in range(n_texts):
            p = [rng.randrange(vocab) for _ in range(4)]
            s = []
            prev = p[-1]
            for _ in range(rng.randrange(8, 14)):
                if rng.random() < 0.3:       # copy a pair of the prompt
                    j = rng.randrange(3)
                    s += [p[j], p[j + 1]]
                    prev = p[j + 1]
                else:
                    row = green[prev].nonzero().flatten().tolist()
                    prev = rng.choice(row) if rng.random() < 0.5 else rng.randrange(vocab)
                    s.append(prev)
            prompts.append(p)
            samples.append(s)
        samples.append(list(samples[0]))      # a repeated sample
        prompts.append(list(prompts[0]))
        out.append(((samples, prompts, green, gamma), {}))
    return out


def _pairs_of(samples, prompts, straddle=True):
    for p, s in zip(prompts, samples):
        yield from _pairs((p[-1:] if straddle else []) + list(s))


def _z_of(pairs, green, gamma):
    pairs = list(pairs)
    g = sum(bool(green[a, b]) for a, b in pairs)
    return _z(g, len(pairs), gamma)


def _no_dedup(samples, prompts, green, gamma):
    banned = {q for p in prompts for q in _pairs(p)}
    return _z_of([q for q in _pairs_of(samples, prompts) if q not in banned], green, gamma)


def _per_text(samples, prompts, green, gamma):
    banned = {q for p in prompts for q in _pairs(p)}
    pairs = []
    for p, s in zip(prompts, samples):
        pairs += [q for q in dict.fromkeys(_pairs(p[-1:] + list(s))) if q not in banned]
    return _z_of(pairs, green, gamma)


def _keep_prompt_pairs(samples, prompts, green, gamma):
    return _z_of(dict.fromkeys(_pairs_of(samples, prompts)), green, gamma)


def _own_prompt_only(samples, prompts, green, gamma):
    pairs = {}
    for p, s in zip(prompts, samples):
        own = set(_pairs(p))
        for q in _pairs(p[-1:] + list(s)):
            if q not in own:
                pairs.setdefault(q)
    return _z_of(pairs, green, gamma)


def _with_prompts(samples, prompts, green, gamma):
    pairs = {}
    for p, s in zip(prompts, samples):
        for q in _pairs(list(p) + list(s)):
            pairs.setdefault(q)
    return _z_of(pairs, green, gamma)


def _no_straddle(samples, prompts, green, gamma):
    banned = {q for p in prompts for q in _pairs(p)}
    return _z_of([q for q in dict.fromkeys(_pairs_of(samples, prompts, straddle=False))
                  if q not in banned], green, gamma)


q3 = FunctionProblem(
    name="q3", var="dedup_z", reference=_dedup, cases=_cases_q3, rtol=1e-6, atol=1e-9,
    mistakes=[
        (_no_dedup, "you counted repeated pairs each time: a pair the student writes often is "
                    "still one draw of the key's coin, so count each (previous, token) pair once."),
        (_per_text, "you de-duplicated within each text but pooled the texts: the same pair in "
                    "two texts is still one draw. De-duplicate over the whole corpus."),
        (_keep_prompt_pairs, "pairs that occur in the prompts must be left out: the prompts are "
                             "watermarked, and a student that copies them is not radioactive."),
        (_own_prompt_only, "leave out a pair that occurs in *any* prompt, not only in the "
                           "sample's own."),
        (_with_prompts, "the prompts' own pairs are not the student's writing: score only the "
                        "samples (with the pair that joins each prompt to its sample)."),
        (_no_straddle, "each sample's first token follows its prompt's last token: that pair "
                       "belongs to the sample (unless a prompt holds it)."),
    ],
    hints=["Build the pairs of `prompt[-1:] + sample` for every text into one set.",
           "Remove every pair that occurs in any prompt, then z = (green - gamma·n) / "
           "sqrt(n·gamma·(1 - gamma)) over what is left."],
    solution="```python\ndef dedup_z(samples, prompts, green, gamma):\n"
             "    banned = {(a, b) for p in prompts for a, b in zip(p[:-1], p[1:])}\n"
             "    pairs = set()\n"
             "    for p, s in zip(prompts, samples):\n"
             "        ids = p[-1:] + list(s)\n"
             "        pairs |= set(zip(ids[:-1], ids[1:]))\n"
             "    pairs -= banned\n"
             "    g = sum(bool(green[a, b]) for a, b in pairs)\n"
             "    n = len(pairs)\n"
             "    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))\n```",
    correct_message="each pair is one independent draw of the key's coin, and nothing the "
                    "prompts already held counts: under the null, the z is a real z.",
)
