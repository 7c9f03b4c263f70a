"""A synthetic reasoning task with checkable answers: long addition, written out (taught in lesson 08).

A problem is two ``digits``-digit numbers written with leading zeros, e.g. ``"0347+0285="``.
The teacher writes its chain of thought -- one column at a time, right to left, with the
carry -- and then the answer after ``>``::

    0347+0285=7+5+0=12;4+8+1=13;3+2+1=06;0+0+0=00;>00632

(the answer has ``digits + 1`` digits). An answers-only completion is just ``>00632``.
Everything is generated offline, every answer can be checked, and the problems all have the
same length, so a batch of them needs no padding.

* :func:`make_problems`, :func:`trace`, :func:`answer_only` -- the data;
* :func:`parse_answer`, :func:`verify`, :func:`filter_verified` -- the verifier that
  rejection sampling (DeepSeek-AI 2025, arXiv:2501.12948) uses to keep only correct traces;
* :func:`char_tokenizer` -- one token per character, as a transformers fast tokenizer, so
  the teacher can be served by :mod:`course_utils.api` like any other model;
* :func:`load_reasoning_teacher` -- a small GPT-2 trained (once, cached) to write traces;
* :func:`answer_accuracy` -- greedy answers of a model on held-out problems, checked.
"""
from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

__all__ = ["make_problems", "prompt_of", "trace", "answer_only", "parse_answer", "verify",
           "filter_verified", "char_tokenizer", "load_reasoning_teacher", "make_reasoner",
           "answer_accuracy", "completions_for", "train_students", "ALPHABET"]

ALPHABET = "0123456789+=;>"
EOS = "<|endoftext|>"


def prompt_of(a: int, b: int, digits: int) -> str:
    return f"{a:0{digits}d}+{b:0{digits}d}="


def make_problems(n: int, digits: int = 4, seed: int = 0, exclude=()) -> list[tuple[int, int]]:
    """``n`` distinct random pairs of ``digits``-digit numbers (none of ``exclude``)."""
    rng = random.Random(seed)
    seen, out = set(map(tuple, exclude)), []
    limit = 10 ** digits
    if n > limit * limit - len(seen):
        raise ValueError(f"Only {limit * limit} problems exist with {digits} digits.")
    while len(out) < n:
        pair = (rng.randrange(limit), rng.randrange(limit))
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def trace(a: int, b: int, digits: int) -> str:
    """The written-out long addition of ``a + b`` followed by ``>`` and the answer."""
    xs, ys = f"{a:0{digits}d}"[::-1], f"{b:0{digits}d}"[::-1]
    carry, steps, out = 0, [], []
    for x, y in zip(xs, ys):
        s = int(x) + int(y) + carry
        steps.append(f"{x}+{y}+{carry}={s:02d}")
        out.append(str(s % 10))
        carry = s // 10
    return ";".join(steps) + ";>" + str(carry) + "".join(reversed(out))


def answer_only(a: int, b: int, digits: int) -> str:
    return f">{a + b:0{digits + 1}d}"


def parse_answer(text: str):
    """The final answer of a completion (the digits after the last ``>``), or None.

    Taught in lesson 08.
    """
    if not isinstance(text, str):
        return None
    match = re.search(r">(\d+)\s*$", text.strip())
    return int(match.group(1)) if match else None


def _operands(prompt: str):
    match = re.fullmatch(r"\s*(\d+)\+(\d+)=\s*", prompt)
    return (int(match.group(1)), int(match.group(2))) if match else None


def verify(prompt: str, completion: str) -> bool:
    """True when the completion's final answer is the true sum of the prompt's numbers.

    Taught in lesson 08.
    """
    ops = _operands(prompt)
    got = parse_answer(completion)
    return ops is not None and got is not None and got == ops[0] + ops[1]


def filter_verified(rows) -> list:
    """Rejection sampling: keep, for each prompt, the first completion that verifies.

    ``rows``: dicts (or a Dataset) with ``prompt`` and ``completion`` (several per prompt
    when the teacher was asked for ``n`` samples).

    Taught in lesson 08.
    """
    kept, done = [], set()
    for row in rows:
        if row["prompt"] in done:
            continue
        if verify(row["prompt"], row["completion"]):
            kept.append(row)
            done.add(row["prompt"])
    return kept


# --------------------------------------------------------------------------------------
# Tokenizer and models
# --------------------------------------------------------------------------------------
def char_tokenizer():
    """One token per character of ``ALPHABET`` plus ``<|endoftext|>``, as a fast tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast
    vocab = {EOS: 0, **{ch: i + 1 for i, ch in enumerate(ALPHABET)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS,
                                   pad_token=EOS, unk_token=EOS)


def make_reasoner(tokenizer, n_layer: int = 2, n_embd: int = 64, n_head: int = 4,
                  n_positions: int = 64, seed: int = 0):
    """A small GPT-2 for the task (teacher or student)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    return GPT2LMHeadModel(config)


def answer_accuracy(model, tokenizer, pairs, digits: int, max_new_tokens: int | None = None,
             batch_size: int = 256) -> float:
    """Fraction of ``pairs`` whose greedy completion's answer is right."""
    import torch
    if max_new_tokens is None:
        max_new_tokens = len(trace(0, 0, digits)) + 1
    from .config import API_MODEL_PARAMS, few_threads
    model.eval()
    right = 0
    with few_threads(model, max_params=API_MODEL_PARAMS):
        right = _count_right(model, tokenizer, pairs, digits, max_new_tokens, batch_size)
    return right / len(pairs)


def _count_right(model, tokenizer, pairs, digits, max_new_tokens, batch_size):
    import torch
    from .lm import greedy_continue
    right = 0
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        prompts = [prompt_of(a, b, digits) for a, b in chunk]
        ids = torch.tensor([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts])
        out = greedy_continue(model, ids, max_new_tokens, tokenizer.eos_token_id)
        for p, row in zip(prompts, out):
            text = tokenizer.decode(row, skip_special_tokens=True)
            right += verify(p, text)
    return right


def load_reasoning_teacher(digits: int = 4, n_layer: int = 3, n_embd: int = 96, n_head: int = 4,
                           n_train: int = 20000, steps: int = 1500, batch_size: int = 64,
                           lr: float = 2e-3, seed: int = 0, retrain: bool = False,
                           progress: bool = True):
    """A GPT-2 trained to write the long addition before the answer; cached on disk.

    Taught in lesson 08. Returns ``model, tokenizer``; ``model.course_info`` says whether it
    came from the cache and how accurate it is on 500 held-out problems (greedy).
    """
    from .io import cache_entry, cached
    from .seqkd import examples_from_pairs, train_sft
    cfg = dict(digits=digits, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_train=n_train,
               steps=steps, batch_size=batch_size, lr=lr, seed=seed, v=1)

    def build():
        tokenizer = char_tokenizer()
        n_positions = len(prompt_of(0, 0, digits)) + len(trace(0, 0, digits)) + 2
        model = make_reasoner(tokenizer, n_layer, n_embd, n_head, n_positions, seed)
        train = make_problems(n_train, digits, seed=seed + 1)
        test = make_problems(500, digits, seed=seed + 2, exclude=train)
        examples = examples_from_pairs([prompt_of(a, b, digits) for a, b in train],
                                       [trace(a, b, digits) for a, b in train], tokenizer)
        start = time.perf_counter()
        history = train_sft(model, examples, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                            progress=progress, desc="training the reasoning teacher")
        info = dict(cfg, seconds=time.perf_counter() - start, final_loss=history.train_loss[-1],
                    test_accuracy=answer_accuracy(model, tokenizer, test, digits),
                    params=sum(p.numel() for p in model.parameters()))
        model.course_info = dict(info, from_cache=False)
        return model, tokenizer

    def save(built, tmp):
        model, tokenizer = built
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {k: v for k, v in model.course_info.items() if k != "from_cache"}
        (Path(tmp) / "course_info.json").write_text(json.dumps(info, indent=1))

    def load(path):
        from transformers import AutoTokenizer, GPT2LMHeadModel
        model = GPT2LMHeadModel.from_pretrained(str(path)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model.course_info = json.loads((path / "course_info.json").read_text())
        model.course_info["from_cache"] = True
        return model, tokenizer

    (model, tokenizer), _ = cached(cache_entry("teachers", "adder", cfg), build, save, load,
                                   retrain=retrain, what="reasoning teacher")
    return model.eval(), tokenizer


def completions_for(rows, kind: str):
    """Training pairs (prompt, completion) of one kind from harvested teacher samples.

    ``kind``: ``"answers"`` (the first sample's final answer only, as ``>digits``; prompts
    whose sample has no answer are dropped), ``"traces"`` (the first sample per prompt, right
    or wrong) or ``"verified"`` (the first sample per prompt that the verifier accepts).
    """
    rows = list(rows)
    if kind == "verified":
        kept = filter_verified(rows)
        return [r["prompt"] for r in kept], [r["completion"] for r in kept]
    first, seen = [], set()
    for r in rows:
        if r["prompt"] not in seen:
            seen.add(r["prompt"])
            first.append(r)
    if kind == "traces":
        return [r["prompt"] for r in first], [r["completion"] for r in first]
    if kind == "answers":
        out = [(r["prompt"], parse_answer(r["completion"])) for r in first]
        return [p for p, a in out if a is not None], [f">{a}" for p, a in out if a is not None]
    raise ValueError(f"kind must be 'answers', 'traces' or 'verified', not {kind!r}.")


def train_students(rows, tokenizer, sizes, seeds, test_pairs, digits: int, steps: int,
                   batch_size: int = 32, lr: float = 3e-3, kinds=("answers", "traces", "verified"),
                   progress: bool = True):
    """Train one student per (kind, size, seed) on the harvested ``rows``; return a DataFrame
    of test accuracy (greedy answers on ``test_pairs``), with the number of training examples.

    A kind with no training examples (a weak teacher whose traces never verify, or whose
    samples hold no answer) gets rows with 0 examples and accuracy NaN, not an error."""
    import pandas as pd
    from tqdm.auto import tqdm
    from .seqkd import examples_from_pairs, train_sft
    n_positions = len(prompt_of(0, 0, digits)) + len(trace(0, 0, digits)) + 2
    jobs = [(k, s, seed) for seed in seeds for s in sizes for k in kinds]
    out = []
    for kind, (n_layer, n_embd), seed in tqdm(jobs, desc="students", disable=not progress):
        prompts, completions = completions_for(rows, kind)
        examples = examples_from_pairs(prompts, completions, tokenizer)
        student = make_reasoner(tokenizer, n_layer, n_embd, 4, n_positions, seed)
        if not examples:
            out.append(dict(kind=kind, size=f"{n_layer}x{n_embd}",
                            params=sum(p.numel() for p in student.parameters()), seed=seed,
                            examples=0, accuracy=float("nan")))
            continue
        train_sft(student, examples, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  progress=False)
        out.append(dict(kind=kind, size=f"{n_layer}x{n_embd}",
                        params=sum(p.numel() for p in student.parameters()), seed=seed,
                        examples=len(examples), accuracy=answer_accuracy(student, tokenizer, test_pairs,
                                                                  digits)))
    return pd.DataFrame(out)
