"""Sequence-level distillation (lesson 07): fine-tune a student on a teacher's harvested completions.

Kim & Rush (2016, arXiv:1606.07947) train the student on the teacher's *outputs* instead of
matching its distributions token by token. Through an API that is all one gets -- text, plus
at most the top-20 log-probabilities of each generated token. This module turns a harvest
(:mod:`course_utils.harvest`) into training examples and fine-tunes a causal LM on them:

* ``loss = (1 - soft_weight) * CE(completion tokens) + soft_weight * top-k KL``, where the
  soft part is lesson 06's :func:`course_utils.lm_losses.topk_kl` fed with the (token, log
  probability) pairs the API returned -- the only soft targets an API exposes;
* prompt tokens are masked (the student learns to answer, not to ask);
* :func:`lm_examples` makes examples from plain text, for the "same number of tokens of
  human text" baseline; :func:`examples_from_pairs` from (prompt, completion) texts
  (lesson 08's traces).

Taught in lesson 07 (and used again in lesson 08). Evaluate students with
:func:`course_utils.lm.evaluate_lm` / :func:`course_utils.lm.perplexity`.
"""
from __future__ import annotations

import random
import time

from .config import API_MODEL_PARAMS, few_threads
from .lm_losses import IGNORE_INDEX

__all__ = ["sft_examples", "lm_examples", "examples_from_pairs", "train_sft", "count_tokens"]


def _ids_from_hex(hex_list, lookup):
    out = []
    for h in hex_list:
        token = lookup.get(bytes.fromhex(h))
        if token is None:
            return None
        out.append(token)
    return out


def sft_examples(dataset, tokenizer, max_length: int = 128, prompt_format=None,
                 with_soft: bool = True, add_eos: bool = True):
    """Training examples from a harvest: ``input_ids``, ``labels`` (``IGNORE_INDEX`` on the prompt) and,
    when the harvest has top log-probabilities, ``soft_ids``/``soft_logprobs`` per position.

    The completion's token ids come from the bytes the API returned (exact, when the student
    shares the teacher's tokenizer), else from re-tokenising the text. ``prompt_format``
    turns a prompt into the text the teacher saw (default: the prompt itself, as the course
    server does for a base model).

    Taught in lesson 07.
    """
    from .tokenizer import bytes_to_id
    lookup = bytes_to_id(tokenizer)
    eos = tokenizer.eos_token_id
    examples = []
    for row in dataset:
        prompt = prompt_format(row["prompt"]) if prompt_format else row["prompt"]
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c_ids = _ids_from_hex(row.get("token_hex") or [], lookup) if row.get("token_hex") else None
        soft = with_soft and c_ids is not None and bool(row.get("top_hex")) and \
            any(row["top_hex"])
        if c_ids is None:
            c_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        if add_eos and eos is not None and row.get("finish_reason") == "stop":
            c_ids = c_ids + [eos]
        ids = (p_ids + c_ids)[:max_length]
        labels = ([IGNORE_INDEX] * len(p_ids) + c_ids)[:max_length]
        example = {"input_ids": ids, "labels": labels}
        if soft:
            # soft targets for the positions that predict completion token t (t = 0..)
            top_ids, top_lp = [], []
            for hexes, lps in zip(row["top_hex"], row["top_logprobs"]):
                pairs = [(lookup.get(bytes.fromhex(h)), v) for h, v in zip(hexes, lps)]
                pairs = [(i, v) for i, v in pairs if i is not None]
                top_ids.append([i for i, _ in pairs])
                top_lp.append([v for _, v in pairs])
            example["soft"] = (len(p_ids), top_ids, top_lp)
        if sum(l != IGNORE_INDEX for l in labels) > 0:
            examples.append(example)
    return examples


def lm_examples(texts, tokenizer, n_tokens: int, block: int = 64, seed: int = 0):
    """Blocks of human text holding ``n_tokens`` tokens in all, every token a label."""
    rng = random.Random(seed)
    ids = []
    for t in texts:
        ids.extend(tokenizer(t, add_special_tokens=False)["input_ids"])
    if len(ids) < block + 1:
        raise ValueError("Not enough text for one block.")
    examples, total = [], 0
    while total < n_tokens:
        start = rng.randrange(0, len(ids) - block)
        take = min(block, n_tokens - total + 1)
        chunk = ids[start:start + take]
        if len(chunk) < 2:
            break
        examples.append({"input_ids": chunk, "labels": chunk})
        total += len(chunk) - 1
    return examples


def examples_from_pairs(prompts, completions, tokenizer):
    """SFT examples (``input_ids``, ``labels`` masked on the prompt) ending in EOS."""
    out = []
    for p, c in zip(prompts, completions):
        p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(c, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        out.append({"input_ids": p_ids + c_ids, "labels": [IGNORE_INDEX] * len(p_ids) + c_ids})
    return out


def count_tokens(examples) -> int:
    """How many tokens the examples train on (labelled positions)."""
    return sum(sum(l != IGNORE_INDEX for l in e["labels"][1:]) for e in examples)


def _collate(batch, pad_id, k_max):
    import torch
    L = max(len(e["input_ids"]) for e in batch)
    B = len(batch)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    labels = torch.full((B, L), IGNORE_INDEX, dtype=torch.long)
    attn = torch.zeros((B, L), dtype=torch.long)
    soft_ids = torch.zeros((B, L, max(k_max, 1)), dtype=torch.long)
    soft_lp = torch.full((B, L, max(k_max, 1)), -1e4)   # missing alternatives: probability 0
    soft_mask = torch.zeros((B, L), dtype=torch.bool)
    for b, e in enumerate(batch):
        n = len(e["input_ids"])
        ids[b, :n] = torch.tensor(e["input_ids"])
        labels[b, :n] = torch.tensor(e["labels"])
        attn[b, :n] = 1
        if "soft" in e and k_max:
            start, t_ids, t_lp = e["soft"]
            for t, (ti, tl) in enumerate(zip(t_ids, t_lp)):
                pos = start + t - 1          # the position whose output predicts token t
                if pos < 0 or pos >= n - 1 or not ti:
                    continue
                soft_ids[b, pos, :len(ti)] = torch.tensor(ti)
                soft_lp[b, pos, :len(tl)] = torch.tensor(tl)
                soft_mask[b, pos] = True
    return ids, labels, attn, soft_ids, soft_lp, soft_mask


def train_sft(student, examples, *, epochs: int = 1, steps: int | None = None,
              batch_size: int = 16, lr: float = 1e-3, soft_weight: float = 0.0,
              temperature: float = 1.0, seed: int = 0, progress: bool = True, desc: str = "sft",
              weight_decay: float = 0.01):
    """Fine-tune ``student`` on ``examples`` (from :func:`sft_examples`/:func:`lm_examples`).

    Trains for ``steps`` optimiser steps if given, else ``epochs`` passes; AdamW with the LM
    schedule (:func:`course_utils.lm.warmup_cosine`, decaying to zero). Returns an
    :class:`~course_utils.lm.LMHistory` (loss per step). ``soft_weight`` > 0 mixes in
    :func:`course_utils.lm_losses.topk_kl` wherever the examples carry top log-probabilities.

    Taught in lesson 07.
    """
    import torch
    from .lm import LMHistory, warmup_cosine
    if not examples:
        raise ValueError("No training examples: was anything harvested?")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    tok_pad = getattr(student.config, "pad_token_id", None)
    pad_id = tok_pad if tok_pad is not None else 0
    k_max = max((max((len(x) for x in e["soft"][1]), default=0) for e in examples
                 if "soft" in e), default=0) if soft_weight > 0 else 0
    per_epoch = -(-len(examples) // batch_size)
    total = steps if steps is not None else epochs * per_epoch
    device = next(student.parameters()).device
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=weight_decay)
    sched = warmup_cosine(opt, total, floor=0.0)
    student.train()
    history = LMHistory(label=desc)
    start = time.perf_counter()
    with few_threads(student, max_params=API_MODEL_PARAMS):
        _loop(student, examples, total, batch_size, pad_id, k_max, device, opt, sched, rng,
              soft_weight, temperature, history, progress, desc)
    history.seconds = time.perf_counter() - start
    student.eval()
    return history


def _loop(student, examples, total, batch_size, pad_id, k_max, device, opt, sched, rng,
          soft_weight, temperature, history, progress, desc):
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm
    from .lm_losses import topk_kl
    order = []
    for step in tqdm(range(1, total + 1), disable=not progress, desc=desc, leave=False):
        if len(order) < batch_size:
            more = list(range(len(examples)))
            rng.shuffle(more)
            order += more
        batch = [examples[i] for i in order[:batch_size]]
        order = order[batch_size:]
        ids, labels, attn, s_ids, s_lp, s_mask = (t.to(device) for t in
                                                  _collate(batch, pad_id, k_max))
        logits = student(input_ids=ids, attention_mask=attn).logits
        ce = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                             ignore_index=IGNORE_INDEX)
        loss = ce
        if soft_weight > 0 and bool(s_mask.any()):
            soft = topk_kl(logits[s_mask].float(), (s_ids[s_mask], s_lp[s_mask]), k_max,
                           T=temperature)
            loss = (1 - soft_weight) * ce + soft_weight * soft
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
        history.step.append(step)
        history.train_loss.append(float(loss.detach()))
        history.tokens += int(attn.sum())
