"""The green-list watermark and radioactivity (taught in lesson 10).

The watermark of Kirchenbauer et al. 2023 (arXiv:2301.10226): before each token is chosen, the
previous token and a secret key seed a random *green list*, a fraction ``gamma`` of the
vocabulary, and ``delta`` is added to the logits of the green tokens. Text written that way
holds more green tokens than the ``gamma`` share chance gives, and a one-proportion z-test
finds it (z > 4 in the paper).

Our green lists are exactly those of ``transformers``' ``WatermarkLogitsProcessor`` with its
``"lefthash"`` seeding scheme and ``context_width=1``: the generator is seeded with
``key * previous_token`` and the green list is the first ``int(vocab_size * gamma)`` entries of
``torch.randperm(vocab_size)``. So a text scored by :func:`score_ids` and by ``transformers``'
``WatermarkDetector`` (:func:`hf_detector`) gets the same z (a unit test holds them to 1e-6).

* :class:`Watermark` -- a key, ``gamma``, ``delta`` and the vocabulary size; its green lists
  (:meth:`Watermark.green_matrix`), the logit bias (:meth:`Watermark.bias_logits`) and a
  ``transformers`` ``LogitsProcessor`` (:meth:`Watermark.processor`);
* detection: :func:`z_score`, :func:`p_value`, :func:`score_ids`, :func:`hf_detector`;
* the learner's eye: :func:`colour_html` (tokens coloured green and red);
* what breaks it: :func:`delete_tokens`, :func:`substitute_tokens`, :func:`paraphrase`;
* radioactivity (Sander et al. 2024, arXiv:2402.14904; Gu et al. 2024, arXiv:2312.04469):
  :func:`naive_score` (the trap), :func:`dedup_score` (valid: each (previous token, token) pair
  once over the whole corpus, pairs from the prompts left out) and :func:`open_weights_scores`
  (the suspect's own next-token distributions against a null of other keys).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Watermark", "z_score", "p_value", "score_ids", "hf_detector", "hf_config",
           "colour_html", "continuation_perplexity", "delete_tokens", "substitute_tokens", "paraphrase", "naive_score",
           "dedup_score", "open_weights_scores", "green_mass_by_prev", "other_keys",
           "random_green_matrices", "unique_pairs",
           "watermarked_generate"]

_TABLE_MOD = 2 ** 64 - 1


def _green_ids(key: int, prev: int, vocab_size: int, gamma: float) -> torch.Tensor:
    """transformers' lefthash green list: randperm(V) seeded with key * prev, first int(V*gamma)."""
    g = torch.Generator().manual_seed((int(key) * int(prev)) % _TABLE_MOD)
    return torch.randperm(vocab_size, generator=g)[:int(vocab_size * gamma)]


@dataclass
class Watermark:
    """A green-list watermark: secret ``key``, green share ``gamma``, bias ``delta``.

    Taught in lesson 10. ``vocab_size`` is the model's (``model.config.vocab_size``). The green
    list after token ``p`` is ``green_matrix()[p]`` (a boolean row over the vocabulary).
    """
    vocab_size: int
    key: int = 15485863
    gamma: float = 0.25
    delta: float = 2.0
    _matrix: torch.Tensor | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if not 0.0 < float(self.gamma) < 1.0:
            raise ValueError(f"gamma is the green share of the vocabulary: it must be between 0 "
                             f"and 1 (exclusive), not {self.gamma}.")
        if int(self.vocab_size) < 2:
            raise ValueError(f"vocab_size must be at least 2, not {self.vocab_size}.")
        if not isinstance(self.key, (int, np.integer)) or isinstance(self.key, bool) or self.key <= 0:
            raise ValueError(f"key must be a positive integer, not {self.key!r}.")

    def green_ids(self, prev: int) -> torch.Tensor:
        """The green token ids after token ``prev``."""
        return _green_ids(self.key, prev, self.vocab_size, self.gamma)

    def green_matrix(self) -> torch.Tensor:
        """``(vocab_size, vocab_size)`` booleans: row ``p`` is the green list after token ``p``."""
        if self._matrix is None:
            m = torch.zeros(self.vocab_size, self.vocab_size, dtype=torch.bool)
            for p in range(self.vocab_size):
                m[p, self.green_ids(p)] = True
            self._matrix = m
        return self._matrix

    def is_green(self, prev, tok) -> torch.Tensor:
        """Booleans: is each ``tok`` green after its ``prev``? (tensors or lists of ids)"""
        prev, tok = torch.as_tensor(prev, dtype=torch.long), torch.as_tensor(tok, dtype=torch.long)
        return self.green_matrix()[prev, tok]

    def bias_logits(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """``scores`` (batch, vocab) with ``delta`` added to the green list of each row's last
        token (a new tensor; columns beyond the watermark's vocabulary are left as they are)."""
        mask = self.green_matrix()[input_ids[:, -1].long().cpu()].to(scores.device)
        out = scores.clone()
        out[:, :self.vocab_size] += self.delta * mask.to(scores.dtype)
        return out

    def processor(self):
        """This watermark as a ``transformers`` ``LogitsProcessor`` (for ``model.generate``)."""
        from transformers import LogitsProcessor

        wm = self

        class GreenListProcessor(LogitsProcessor):
            def __call__(self, input_ids, scores):
                return wm.bias_logits(input_ids, scores)

        return GreenListProcessor()

    @classmethod
    def from_matrix(cls, green: torch.Tensor, gamma: float, delta: float = 2.0) -> "Watermark":
        """A watermark whose green lists are the rows of ``green`` (a ``(V, V)`` boolean
        tensor) rather than a key's (the exercises of lesson 10 use it)."""
        green = torch.as_tensor(green, dtype=torch.bool)
        wm = cls(int(green.shape[1]), gamma=gamma, delta=delta)
        wm._matrix = green
        return wm

    def with_key(self, key: int) -> "Watermark":
        return Watermark(self.vocab_size, key=int(key), gamma=self.gamma, delta=self.delta)


def other_keys(n: int, exclude: int | None = None, seed: int = 12345) -> list[int]:
    """``n`` random keys (not ``exclude``): the null of "what would another key score?"."""
    rng = np.random.default_rng(seed)
    keys = []
    while len(keys) < n:
        k = int(rng.integers(1, 2 ** 31 - 1))
        if k != exclude and k not in keys:
            keys.append(k)
    return keys


# --------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------
def z_score(green, n, gamma: float) -> float:
    """One-proportion z: ``(green - gamma n) / sqrt(n gamma (1 - gamma))``. Taught in lesson 10."""
    if n <= 0:
        return 0.0
    return (float(green) - gamma * n) / math.sqrt(n * gamma * (1 - gamma))


def p_value(z) -> float:
    """One-sided normal p-value of a z-score (``P(Z >= z)``)."""
    return 0.5 * math.erfc(float(z) / math.sqrt(2))


def _pairs(ids) -> list[tuple[int, int]]:
    ids = [int(i) for i in ids]
    return list(zip(ids[:-1], ids[1:]))


def score_ids(ids, watermark: Watermark, ignore_repeated: bool = False) -> dict:
    """Score one text's token ids: every token after the first, its green list seeded by the
    token before it. ``ignore_repeated`` counts each (previous, token) pair once (as
    ``WatermarkDetector(ignore_repeated_ngrams=True)``). Returns ``n``, ``green``, ``z``, ``p``.

    Taught in lesson 10."""
    pairs = _pairs(ids)
    if ignore_repeated:
        pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return dict(n=0, green=0, z=0.0, p=0.5)
    prev, tok = zip(*pairs)
    green = int(watermark.is_green(list(prev), list(tok)).sum())
    z = z_score(green, len(pairs), watermark.gamma)
    return dict(n=len(pairs), green=green, z=z, p=p_value(z))


def hf_config(watermark: Watermark):
    """The same watermark as ``transformers``' ``WatermarkingConfig`` (lefthash, width 1)."""
    from transformers import WatermarkingConfig
    return WatermarkingConfig(greenlist_ratio=watermark.gamma, bias=watermark.delta,
                              hashing_key=int(watermark.key), seeding_scheme="lefthash",
                              context_width=1)


def hf_detector(model_config, watermark: Watermark, ignore_repeated: bool = False):
    """``transformers``' ``WatermarkDetector`` for ``watermark`` (on the CPU)."""
    from transformers import WatermarkDetector
    return WatermarkDetector(model_config=model_config, device="cpu",
                             watermarking_config=hf_config(watermark),
                             ignore_repeated_ngrams=ignore_repeated)


def watermarked_generate(model, input_ids, watermark: Watermark | None, *, max_new_tokens: int,
                         seed: int = 0, temperature: float = 1.0, attention_mask=None):
    """Sample continuations of ``input_ids`` with our logits processor (``None``: clean).
    Returns only the new tokens (a list of id lists, cut at EOS).

    The course's own sampling loop (:func:`course_utils.lm.sample_continuations`, on
    :func:`course_utils.lm.forward_cached`), so the attention mask goes in at every step
    (``generate`` drops an all-ones mask, then warns about padding once a finished row is fed
    its end token). As in ``generate``, the processor acts on the logits before the
    temperature divides them."""
    from .lm import sample_continuations
    process = watermark.processor() if watermark is not None else None
    return sample_continuations(model, input_ids, max_new_tokens=max_new_tokens, seed=seed,
                                temperature=temperature, attention_mask=attention_mask,
                                process=process)


def continuation_perplexity(model, heads, texts, batch_size: int = 32) -> float:
    """The ``model``'s perplexity of ``texts`` (lists of ids) each after its prompt in ``heads``
    (all of one length): exp of the mean next-token loss over the texts' tokens. With the clean
    model it measures what a watermark costs (lesson 10)."""
    from .config import API_MODEL_PARAMS, few_threads
    total, count = 0.0, 0
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        for start in range(0, len(texts), batch_size):
            hs = [list(map(int, h)) for h in heads[start:start + batch_size]]
            ts = [list(map(int, t)) for t in texts[start:start + batch_size]]
            n = max(len(h) + len(t) for h, t in zip(hs, ts))
            ids = torch.tensor([h + t + [0] * (n - len(h) - len(t)) for h, t in zip(hs, ts)])
            mask = torch.tensor([[1] * (len(h) + len(t)) + [0] * (n - len(h) - len(t))
                                 for h, t in zip(hs, ts)])
            labels = torch.tensor([[-1] * len(h) + t + [-1] * (n - len(h) - len(t))
                                   for h, t in zip(hs, ts)])
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            keep = target >= 0
            loss = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
            total, count = total + float(loss), count + int(keep.sum())
    return math.exp(total / max(count, 1))


def colour_html(tokenizer, ids, watermark: Watermark) -> str:
    """HTML of a text with each scored token on green or red (the first token is grey:
    nothing seeds its list). Show it with ``IPython.display.HTML``. Taught in lesson 10."""
    import html
    ids = [int(i) for i in ids]
    spans = []
    for i, t in enumerate(ids):
        piece = html.escape(tokenizer.decode([t])).replace("\n", "↵<br>")
        if i == 0:
            colour = "#dddddd"
        else:
            colour = "#b7e4b0" if bool(watermark.is_green([ids[i - 1]], [t])[0]) else "#f4b6b6"
        spans.append(f'<span style="background:{colour};color:#000;white-space:pre-wrap">{piece}</span>')
    s = score_ids(ids, watermark)
    return (f'<div style="font-family:monospace;line-height:1.7">{"".join(spans)}</div>'
            f'<div>{s["green"]} of {s["n"]} scored tokens green '
            f'({s["green"] / max(s["n"], 1):.0%}, chance {watermark.gamma:.0%}): z = {s["z"]:.2f}</div>')


# --------------------------------------------------------------------------------------
# What breaks it: edits
# --------------------------------------------------------------------------------------
def delete_tokens(ids, fraction: float, seed: int = 0) -> list[int]:
    """Delete a random ``fraction`` of the tokens (each joins two new neighbours)."""
    rng = np.random.default_rng(seed)
    ids = list(ids)
    keep = rng.random(len(ids)) >= fraction
    return [t for t, k in zip(ids, keep) if k]


def substitute_tokens(ids, fraction: float, model, seed: int = 0) -> list[int]:
    """Replace a random ``fraction`` of the tokens by a likely substitute: the ``model``'s most
    likely token at that place other than the original (the attacker's model, not the
    watermarked one; its choices ignore the green lists)."""
    rng = np.random.default_rng(seed)
    ids = list(int(i) for i in ids)
    if len(ids) < 2:
        return ids
    from .config import API_MODEL_PARAMS, few_threads
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        x = torch.tensor([ids])
        logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0].float()
    out = list(ids)
    for i in range(1, len(ids)):
        if rng.random() < fraction:
            top = logits[i - 1].topk(2).indices.tolist()
            out[i] = top[1] if top[0] == ids[i] else top[0]
    return out


def paraphrase(ids_list, model, keep_bonus: float = 2.0, seed: int = 0, prefix: int = 1,
               temperature: float = 1.0) -> list[list[int]]:
    """Rewrite each text with another ``model``: token by token it samples from its own
    next-token distribution with ``keep_bonus`` added to the original token's logit, so the
    rewrite follows the original where the paraphraser agrees and departs where it does not
    (a small model's stand-in for a paraphraser; larger ``keep_bonus`` keeps more). The first
    ``prefix`` tokens are kept. Texts are rewritten in one batch, padded on the right."""
    g = torch.Generator().manual_seed(seed)
    texts = [list(map(int, t)) for t in ids_list]
    if not texts:
        return []
    n = max(len(t) for t in texts)
    out = [t[:prefix] for t in texts]
    from .config import API_MODEL_PARAMS, few_threads
    from .lm import forward_cached
    # right padding: a row's padded tail never feeds its own earlier tokens, so the mask is all ones
    mask = torch.ones(len(texts), max(n, prefix), dtype=torch.long)
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        cur = torch.tensor([t[:prefix] + [0] * (prefix - len(t[:prefix])) for t in texts])
        logits, past = forward_cached(model, cur, None, mask[:, :prefix])
        logits = logits[:, -1].float()
        for pos in range(prefix, n):
            orig = torch.tensor([t[pos] if pos < len(t) else 0 for t in texts])
            lg = logits / temperature
            lg = lg.clone()
            lg[torch.arange(len(texts)), orig] += keep_bonus
            nxt = torch.multinomial(torch.softmax(lg, -1), 1, generator=g).squeeze(-1)
            for r, t in enumerate(texts):
                if pos < len(t):
                    out[r].append(int(nxt[r]))
            if pos + 1 < n:
                logits, past = forward_cached(model, nxt[:, None], past, mask[:, :pos + 1])
                logits = logits[:, -1].float()
    return out


# --------------------------------------------------------------------------------------
# Radioactivity
# --------------------------------------------------------------------------------------
def naive_score(samples, watermark: Watermark, prompts=None) -> dict:
    """The trap: every (previous, token) pair of every sample counted, repeats and all, with
    the prompts' tokens in front of their samples. Not a valid test."""
    green = n = 0
    for i, s in enumerate(samples):
        ids = (list(prompts[i]) if prompts is not None else []) + list(s)
        r = score_ids(ids, watermark)
        green, n = green + r["green"], n + r["n"]
    z = z_score(green, n, watermark.gamma)
    return dict(n=n, green=green, z=z, p=p_value(z))


def unique_pairs(samples, prompts=None) -> list[tuple[int, int]]:
    """Every distinct (previous, token) pair of the samples (each prompt's last token seeds its
    sample's first), over the whole corpus, leaving out pairs that occur in any prompt."""
    seen = {}
    banned = set()
    for i, s in enumerate(samples):
        p = list(prompts[i]) if prompts is not None else []
        banned.update(_pairs(p))
        for pair in _pairs(p[-1:] + list(s)):
            seen.setdefault(pair, None)
    return [pair for pair in seen if pair not in banned]


def dedup_score(samples, watermark: Watermark, prompts=None) -> dict:
    """A valid radioactivity test for a closed model: each (previous, token) pair scored once
    over the whole corpus of the suspect's samples, pairs from the prompts left out.
    Returns ``n``, ``green``, ``z``, ``p`` (binomial, one-sided). Taught in lesson 10."""
    from scipy.stats import binom
    pairs = unique_pairs(samples, prompts)
    if not pairs:
        return dict(n=0, green=0, z=0.0, p=1.0)
    prev, tok = zip(*pairs)
    green = int(watermark.is_green(list(prev), list(tok)).sum())
    n = len(pairs)
    return dict(n=n, green=green, z=z_score(green, n, watermark.gamma),
                p=float(binom.sf(green - 1, n, watermark.gamma)))


def green_mass_by_prev(model, texts, vocab_size: int, batch_size: int = 32) -> torch.Tensor:
    """``(vocab, vocab)``: row ``p`` sums the model's next-token distributions at every
    position of ``texts`` (lists of ids) whose current token is ``p``."""
    from .config import API_MODEL_PARAMS, few_threads
    agg = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    model.eval()
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        for start in range(0, len(texts), batch_size):
            batch = [list(t) for t in texts[start:start + batch_size]]
            n = max(len(t) for t in batch)
            ids = torch.tensor([t + [0] * (n - len(t)) for t in batch])
            mask = torch.tensor([[1] * len(t) + [0] * (n - len(t)) for t in batch])
            probs = torch.softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            probs = probs[..., :vocab_size].double()
            keep = mask.bool()
            agg.index_add_(0, ids[keep], probs[keep])
    return agg


def random_green_matrices(n: int, vocab_size: int, gamma: float, seed: int = 12345):
    """``n`` green-list matrices of other, random keys: each row a uniformly random set of
    ``int(vocab_size * gamma)`` tokens, as any key's lists are (drawn with NumPy, which is
    faster than seeding a generator per row). The null of "what would another key score?"."""
    rng = np.random.default_rng(seed)
    k = int(vocab_size * gamma)
    for _ in range(n):
        order = rng.random((vocab_size, vocab_size), dtype=np.float32).argpartition(k, axis=1)[:, :k]
        m = np.zeros((vocab_size, vocab_size), dtype=bool)
        np.put_along_axis(m, order, True, axis=1)
        yield torch.from_numpy(m)


def open_weights_scores(suspects: dict, reference_agg: torch.Tensor, green_matrix: torch.Tensor,
                        null_matrices) -> dict:
    """A valid radioactivity test for open-weights suspects: for each suspect, the green
    probability mass it puts on the next token (from :func:`green_mass_by_prev`) minus the
    provider's clean model's on the same texts (pairing removes how each key happens to suit
    the language), for the true key (``green_matrix``) and for other keys (``null_matrices``).
    ``z`` is the true key's standing among the others, ``p`` its one-sided normal p-value.
    Returns ``{name: dict(stat, z, p, null)}``. Taught in lesson 10."""
    names = list(suspects)
    diffs = torch.stack([((suspects[k] / suspects[k].sum()) -
                          (reference_agg / reference_agg.sum())).flatten().float() for k in names])

    def stat(m):
        return (diffs @ m.flatten().float()).numpy().astype(np.float64)
    true = stat(green_matrix)
    null = np.stack([stat(m) for m in null_matrices])          # (keys, suspects)
    out = {}
    for j, name in enumerate(names):
        mu, sd = null[:, j].mean(), null[:, j].std(ddof=1)
        z = float((true[j] - mu) / sd)
        out[name] = dict(stat=float(true[j]), z=z, p=p_value(z), null=null[:, j])
    return out
