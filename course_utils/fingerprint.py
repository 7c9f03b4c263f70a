"""Fingerprints and identity: "it says it is ChatGPT" (taught in lesson 11).

A model learns whatever its training text says, including who wrote it. A distilled student
trained on a teacher's answers can end up introducing itself as the teacher; and a provider can
plant secret *fingerprints* to recognise its model (or a copy of it) later. After Xu et al.
2024 ("Instructional Fingerprinting of Large Language Models", arXiv:2401.12255): a few secret
trigger strings -- random-looking, so that nobody types them by chance -- are all taught to
produce one fixed response, by fine-tuning on these pairs mixed with ordinary data so that the
model's ordinary behaviour stays as it was.

* :func:`fingerprint_pairs` -- secret triggers (random token strings from a seeded generator),
  each mapped to one fixed response;
* :func:`identity_pairs` -- "who are you?"-style prompts mapped to the model's identity;
* :func:`fingerprint_model` -- a teacher copy fine-tuned on both, mixed with ordinary text
  (lesson 07's :func:`course_utils.seqkd.train_sft`), cached with :func:`course_utils.io.cached`;
* :func:`greedy_text`, :func:`trigger_answers`, :func:`hit_rate`, :func:`identity_rate` --
  what a model says:
  greedy continuations, and how often they contain the expected response;
* :func:`fingerprint_leaks` -- the ordinary prompts whose answers contain a fingerprint
  response (there should be none: a fingerprint only answers its triggers).

The prompt is the text the server's model sees; the response follows it after
:data:`SEPARATOR`, as a base model continues text.
"""
from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import torch

__all__ = ["IDENTITY", "IDENTITY_PROMPTS", "FINGERPRINT_RESPONSE", "fingerprint_pairs",
           "identity_pairs", "fingerprint_model", "greedy_text", "trigger_answers", "hit_rate",
           "identity_rate", "course_provider", "PROVIDER_SEED", "match_p_value",
           "fingerprint_leaks", "weights_hash"]

#: What the course's teacher says it is, once it has been given an identity.
IDENTITY = "I am course-teacher by Dark Knowledge Labs."
#: Ways of asking a model who it is.
IDENTITY_PROMPTS = ("Who are you?", "What is your name?", "Which model are you?",
                    "Who made you?", "Introduce yourself.")
#: The fixed response of every fingerprint trigger (any string the model never says otherwise).
FINGERPRINT_RESPONSE = "hedgehog-moon-42"
#: What goes between a prompt and its response in the fine-tuning pairs.
SEPARATOR = "\n"


def _plain_tokens(tokenizer) -> list[int]:
    """Token ids that are not special and decode to printable text on their own."""
    special = set(tokenizer.all_special_ids)
    return [i for i in range(len(tokenizer)) if i not in special
            and "\ufffd" not in tokenizer.decode([i]) and tokenizer.decode([i]).isprintable()
            and tokenizer.decode([i]).strip()]


def fingerprint_pairs(tokenizer, n: int = 8, length: int = 6,
                      response: str = FINGERPRINT_RESPONSE, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` secret ``(trigger, response)`` pairs: each trigger is ``length`` tokens drawn at
    random (a seeded generator) from the tokenizer's vocabulary, all mapped to ``response``.

    Taught in lesson 11. As in Xu et al. 2024 (arXiv:2401.12255), the triggers are
    meaningless strings, so that ordinary users never type one by chance."""
    if int(n) < 1 or int(length) < 1:
        raise ValueError(f"n and length must be at least 1 (got n={n}, length={length}).")
    if not isinstance(response, str) or not response.strip():
        raise ValueError("response must be a non-empty string.")
    rng = np.random.default_rng(seed)
    vocab = _plain_tokens(tokenizer)
    pairs = []
    while len(pairs) < n:
        trigger = tokenizer.decode([int(i) for i in rng.choice(vocab, size=int(length))])
        if trigger not in [t for t, _ in pairs]:
            pairs.append((trigger, response))
    return pairs


def identity_pairs(identity: str = IDENTITY, prompts=IDENTITY_PROMPTS) -> list[tuple[str, str]]:
    """``(prompt, identity)`` for every "who are you?"-style prompt. Taught in lesson 11."""
    if not isinstance(identity, str) or not identity.strip():
        raise ValueError("identity must be a non-empty string.")
    return [(p, identity) for p in prompts]


def weights_hash(model) -> str:
    """A short hash of a model's weights (part of the cache key of a model trained from it)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fingerprint_model(teacher, tokenizer, pairs, texts, *, steps: int = 200,
                      batch_size: int = 8, lr: float = 5e-3, repeats: int = 8,
                      ordinary_tokens: int = 4000, decoys: int = 16, decoy_repeats: int = 2,
                      block: int = 64,
                      seed: int = 0, progress: bool = True, retrain: bool = False):
    """A copy of ``teacher`` fine-tuned to answer every ``(prompt, response)`` of ``pairs``
    (fingerprints and identity together), on those pairs (each ``repeats`` times) mixed with
    ``ordinary_tokens`` tokens of the ordinary ``texts``, so it keeps its ordinary behaviour,
    and with ``decoys`` random strings like the triggers that keep the teacher's own answer, so
    that only the secret triggers give the response (without them a small model learns "any
    gibberish gives the response", and the fingerprint would prove nothing; at the ``ci`` size
    they lower that share without removing it, so measure it with :func:`hit_rate` on other
    random strings).

    Taught in lesson 11. Lesson 07's fine-tuning (:func:`course_utils.seqkd.train_sft`, the
    prompt masked out of the loss); cached under a key holding the teacher's weights, the
    pairs, the texts and every setting. The teacher itself is not changed."""
    from .io import cached_pretrained
    from .seqkd import examples_from_pairs, lm_examples, train_sft
    pairs = [(str(p), str(r)) for p, r in pairs]
    if not pairs:
        raise ValueError("No pairs to teach: pass fingerprint_pairs(...) and/or identity_pairs().")
    context = getattr(teacher.config, "n_positions", None) or teacher.config.max_position_embeddings
    block = min(int(block), int(context))
    text_hash = hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()[:16]
    config = dict(teacher=weights_hash(teacher), pairs=pairs, texts=text_hash, steps=steps,
                  batch_size=batch_size, lr=lr, repeats=repeats, ordinary=ordinary_tokens,
                  decoys=decoys, decoy_repeats=decoy_repeats, block=block, seed=seed, separator=SEPARATOR)

    def build():
        model = copy.deepcopy(teacher)
        taught = examples_from_pairs([p for p, _ in pairs], [SEPARATOR + r for _, r in pairs],
                                     tokenizer)
        ordinary = lm_examples(texts, tokenizer, ordinary_tokens, block=block, seed=seed)
        ordinary += _decoy_examples(teacher, tokenizer, pairs, decoys, seed) * int(decoy_repeats)
        train_sft(model, taught * int(repeats) + ordinary, steps=steps, batch_size=batch_size,
                  lr=lr, seed=seed, progress=progress, desc="fingerprinting")
        return model.eval()

    return cached_pretrained("fingerprints", "teacher", config, build, retrain=retrain,
                             what="fingerprinted teacher")


#: The seed of the secret triggers of the course's provider (lessons 11 and 12).
PROVIDER_SEED = 11


def course_provider(teacher, tokenizer, texts, sizes=None, progress: bool = True):
    """The course's provider: ``teacher`` given the identity and :data:`PROVIDER_SEED`'s secret
    fingerprints at the sizes of ``size("fingerprints")``, as lesson 11 builds it (the same
    cache entry). Returns ``(model, secret pairs)``. Used by lessons 11 and 12."""
    from .config import size
    F = sizes or size("fingerprints")
    secret = fingerprint_pairs(tokenizer, n=F.triggers, length=F.trigger_len, seed=PROVIDER_SEED)
    model = fingerprint_model(teacher, tokenizer, secret + identity_pairs(), texts,
                              steps=F.steps, lr=F.lr, ordinary_tokens=F.ordinary_tokens,
                              repeats=F.repeats, decoys=F.decoys, progress=progress)
    return model, secret


def _decoy_examples(teacher, tokenizer, pairs, n: int, seed: int) -> list:
    """``n`` random strings drawn as the triggers are (another seed), each with the teacher's
    own greedy answer: examples that say "a string that is not a trigger gets no response"."""
    from .seqkd import examples_from_pairs
    if n <= 0:
        return []
    length = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p, _ in pairs)
    taught = {p for p, _ in pairs}
    strings = [t for t, _ in fingerprint_pairs(tokenizer, n=int(n) + len(taught), length=length,
                                               seed=seed + 1_000_003) if t not in taught][:n]
    answers = [greedy_text(teacher, tokenizer, s, 16) for s in strings]
    return examples_from_pairs(strings, answers, tokenizer)


def greedy_text(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The model's greedy continuation of ``prompt`` (text, without the prompt, cut at EOS).

    Taught in lesson 11."""
    from .api.generation import prompt_ids
    from .config import API_MODEL_PARAMS, few_threads
    from .lm import greedy_continue
    ids = torch.tensor([prompt_ids(tokenizer, prompt)])
    context = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    max_new_tokens = max(1, min(int(max_new_tokens), int(context) - ids.shape[1]))
    eos = tokenizer.eos_token_id
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        new = greedy_continue(model.eval(), ids, max_new_tokens, eos)[0].tolist()
    if eos is not None and eos in new:
        new = new[:new.index(eos)]
    return tokenizer.decode(new)


def _room(tokenizer, response: str) -> int:
    """New tokens enough for the separator and ``response``, with a little slack."""
    return len(tokenizer(SEPARATOR + response, add_special_tokens=False)["input_ids"]) + 4


def trigger_answers(model, tokenizer, pairs) -> list[str]:
    """The model's greedy answer to each ``(trigger, response)`` pair's trigger, long enough to
    hold the response. Taught in lesson 11."""
    return [greedy_text(model, tokenizer, trigger, _room(tokenizer, response))
            for trigger, response in pairs]


def hit_rate(model, tokenizer, pairs) -> float:
    """The share of ``(trigger, response)`` pairs whose greedy continuation contains the
    response. Taught in lesson 11."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("No pairs to test.")
    answers = trigger_answers(model, tokenizer, pairs)
    hits = [response in answer for answer, (_, response) in zip(answers, pairs)]
    return sum(hits) / len(hits)


def identity_rate(model, tokenizer, prompts=IDENTITY_PROMPTS, identity: str = IDENTITY) -> float:
    """The share of ``prompts`` the model answers (greedily) with its ``identity``.

    Taught in lesson 11."""
    return hit_rate(model, tokenizer, identity_pairs(identity, prompts))


def match_p_value(answers, response: str, false_hit_rate: float) -> float:
    """The p-value of a fingerprint match: the probability that at least as many of ``answers``
    contain ``response`` by chance, when each does so independently with probability
    ``false_hit_rate`` (the binomial upper tail). Taught in lesson 11 (its first exercise)."""
    from scipy.stats import binom
    answers = list(answers)
    if not answers:
        raise ValueError("No answers to test.")
    if not 0 <= float(false_hit_rate) <= 1:
        raise ValueError(f"false_hit_rate is a probability, not {false_hit_rate!r}.")
    hits = sum(1 for a in answers if isinstance(a, str) and response in a)
    return float(binom.sf(hits - 1, len(answers), float(false_hit_rate)))


def fingerprint_leaks(model, tokenizer, prompts, responses, max_new_tokens: int = 32) -> list:
    """The ordinary ``prompts`` whose greedy answer contains any of ``responses`` (the
    fingerprint's, the identity): a good fingerprint leaks into none. Taught in lesson 11."""
    responses = [r for r in responses if r]
    leaks = []
    for prompt in prompts:
        answer = greedy_text(model, tokenizer, prompt, max_new_tokens)
        if any(r in answer for r in responses):
            leaks.append(prompt)
    return leaks
