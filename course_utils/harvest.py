"""Collecting a teacher's answers through its API (taught in lesson 07): bills, retries, budgets,
prompt strategies.

What a lab with only API access does to distil a model (lesson 07):

* :func:`bill` -- dollars for a response's ``usage`` at a price per 1K tokens;
* :func:`call_with_retry` -- call the API, and on ``429`` wait as long as ``Retry-After``
  says (else back off exponentially) and try again;
* :func:`harvest` -- send prompts until a dollar budget is spent, keeping each prompt, the
  completion and (optionally) the top log-probabilities of every generated token; saved as
  a ``datasets`` Dataset on disk in shards written atomically, so an interrupted harvest
  resumes where it stopped (:func:`load_harvest` reads it back, :func:`within_budget` takes
  the part a smaller budget would have bought);
* prompt strategies: :func:`random_snippets` (random spans of a corpus),
  :func:`diverse_snippets` (one prompt per cluster of many candidates) and
  :func:`self_instruct_prompts` (prompts the student writes itself).

Token identities travel as bytes (hex), exactly as the API's ``bytes`` field gives them, so a
student that shares the teacher's tokenizer recovers the exact token ids (see
:mod:`course_utils.seqkd`).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

__all__ = ["bill", "retry_after_seconds", "call_with_retry", "harvest", "load_harvest",
           "within_budget", "random_snippets", "diverse_snippets", "max_coverage",
           "self_instruct_prompts"]


# --------------------------------------------------------------------------------------
# Bills and retries
# --------------------------------------------------------------------------------------
def _get(usage, name):
    return usage[name] if isinstance(usage, dict) else getattr(usage, name)


def bill(usage, price_per_1k_prompt: float, price_per_1k_completion: float | None = None) -> float:
    """Dollars for one response's ``usage`` (an ``openai`` usage object or a dict).

    Providers price prompt (input) and completion (output) tokens per 1K (or per 1M) tokens;
    completion tokens usually cost more. One price for both when only one is given.

    Taught in lesson 07.
    """
    if price_per_1k_completion is None:
        price_per_1k_completion = price_per_1k_prompt
    return (_get(usage, "prompt_tokens") * price_per_1k_prompt +
            _get(usage, "completion_tokens") * price_per_1k_completion) / 1000


def retry_after_seconds(error) -> float | None:
    """How long a 429 asks us to wait, from its ``retry-after-ms`` or ``Retry-After`` header."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms") is not None:
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after") is not None:
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


def call_with_retry(create, *, max_retries: int = 8, base_delay: float = 0.5,
                    max_delay: float = 60.0, sleep=time.sleep, on_wait=None, **request):
    """``create(**request)``, retried on rate limits (``openai.RateLimitError``, HTTP 429).

    Waits what the server's ``Retry-After`` asks, else ``base_delay * 2**attempt`` (capped at
    ``max_delay``); gives up after ``max_retries`` retries by re-raising the last error. Use it
    with a client made with ``max_retries=0`` so that this loop, not the client, does the
    waiting. ``on_wait(seconds)`` is called before each wait (to count or show them).

    Taught in lesson 07.
    """
    import openai
    for attempt in range(max_retries + 1):
        try:
            return create(**request)
        except openai.RateLimitError as error:
            if attempt == max_retries:
                raise
            wait = retry_after_seconds(error)
            if wait is None:
                wait = base_delay * 2 ** attempt
            wait = min(max(wait, 0.0), max_delay)
            if on_wait is not None:
                on_wait(wait)
            sleep(wait)


# --------------------------------------------------------------------------------------
# Harvesting
# --------------------------------------------------------------------------------------
_SETTINGS = ("model", "max_tokens", "temperature", "top_p", "top_logprobs", "price_per_1k_prompt",
             "price_per_1k_completion", "n")


def _shards(out_dir: Path):
    return sorted(p for p in out_dir.glob("shard-*") if p.is_dir() and not p.name.endswith(".tmp"))


def load_harvest(out_dir):
    """The harvested rows in ``out_dir`` as one Dataset (in the order they were bought)."""
    from datasets import concatenate_datasets, load_from_disk
    out_dir = Path(out_dir)
    shards = _shards(out_dir)
    if not shards:
        raise FileNotFoundError(f"No harvest in {out_dir} (no shard-* folders).")
    return concatenate_datasets([load_from_disk(str(p)) for p in shards])


def within_budget(dataset, budget_usd: float):
    """The first rows of a harvest whose running cost stays within ``budget_usd``."""
    total, keep = 0.0, 0
    for cost in dataset["cost_usd"]:
        if total + cost > budget_usd + 1e-12:
            break
        total += cost
        keep += 1
    return dataset.select(range(keep))


def _save_shard(rows, out_dir: Path, index: int) -> None:
    from datasets import Dataset
    from datasets.utils import logging as ds_logging
    final = out_dir / f"shard-{index:05d}"
    tmp = out_dir / f"shard-{index:05d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    was_on = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        Dataset.from_list(rows).save_to_disk(str(tmp))
    finally:
        if was_on:
            ds_logging.enable_progress_bar()
    os.replace(tmp, final)   # a shard appears whole or not at all


def _row(prompt_id, prompt, choice, usage_share, cost):
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) or []
    message = getattr(choice, "message", None)
    text = message.content if message is not None else choice.text
    return {
        "prompt_id": int(prompt_id), "prompt": prompt, "completion": text or "",
        "finish_reason": choice.finish_reason or "",
        "prompt_tokens": usage_share[0], "completion_tokens": usage_share[1],
        "cost_usd": float(cost),
        "token_hex": [bytes(c.bytes or b"").hex() for c in content],
        "token_logprobs": [float(c.logprob) for c in content],
        "top_hex": [[bytes(a.bytes or b"").hex() for a in (c.top_logprobs or [])]
                    for c in content],
        "top_logprobs": [[float(a.logprob) for a in (c.top_logprobs or [])] for c in content],
    }


def harvest(client, prompts, out_dir, *, model: str, budget_usd: float,
            price_per_1k_prompt: float, price_per_1k_completion: float | None = None,
            max_tokens: int = 64, temperature: float = 1.0, top_p: float = 1.0,
            top_logprobs: int = 0, n: int = 1, seed: int | None = 0, save_every: int = 25,
            max_retries: int = 8, progress: bool = True, sleep=time.sleep):
    """Buy completions for ``prompts`` until ``budget_usd`` is spent; return the Dataset.

    Each prompt is sent as one user message to ``client.chat.completions``; each answer
    becomes a row (``prompt_id``, ``prompt``, ``completion``, token counts, ``cost_usd``
    and, when ``top_logprobs`` > 0, the sampled tokens and the teacher's top alternatives with
    their log-probabilities). Rows are saved every ``save_every`` prompts as a new shard in
    ``out_dir``; running again with the same ``out_dir`` and settings skips the prompts
    already bought and continues with the money left. Rate limits are waited out
    (:func:`call_with_retry`). The budget is checked before each request, so the last
    request may overshoot it by at most one request's cost.

    Taught in lesson 07.
    """
    from tqdm.auto import tqdm
    from .io import atomic_write_json, build_lock
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if price_per_1k_completion is None:
        price_per_1k_completion = price_per_1k_prompt
    if not 0 <= int(top_logprobs) <= 20:
        raise ValueError(f"top_logprobs must be between 0 and 20 (the API's cap), not "
                         f"{top_logprobs}.")
    settings = dict(model=model, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                    top_logprobs=int(top_logprobs), price_per_1k_prompt=price_per_1k_prompt,
                    price_per_1k_completion=price_per_1k_completion, n=n)
    # one harvester per folder at a time: a second one waits, then resumes (buys nothing twice)
    with build_lock(out_dir):
        meta_path = out_dir / "harvest.json"
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            changed = [k for k in _SETTINGS if old.get(k) != settings[k]]
            if changed and _shards(out_dir):
                raise ValueError(f"{out_dir} holds a harvest made with other settings ({changed}); "
                                 "use another folder to start a new one.")
        atomic_write_json(meta_path, settings)

        prompts = list(prompts)
        done, spent, shard_index = set(), 0.0, 0
        for shard in _shards(out_dir):
            from datasets import load_from_disk
            part = load_from_disk(str(shard))
            done.update(part["prompt_id"])
            spent += float(sum(part["cost_usd"]))
            shard_index = max(shard_index, int(shard.name.split("-")[1]) + 1)
        todo = [i for i in range(len(prompts)) if i not in done]
        import openai
        rows, waits, skipped = [], [], []
        bar = tqdm(total=budget_usd, disable=not progress, desc="harvest ($)", unit="$",
                   bar_format="{l_bar}{bar}| ${n:.4f}/${total:.4f} [{elapsed}<{remaining}]")
        bar.update(min(spent, budget_usd))
        request = dict(model=model, max_tokens=max_tokens, temperature=temperature, top_p=top_p, n=n)
        if top_logprobs:
            request.update(logprobs=True, top_logprobs=int(top_logprobs))
        try:
            for i in todo:
                if spent >= budget_usd:
                    break
                if seed is not None:
                    request["seed"] = int(seed) * 1_000_003 + i
                try:
                    response = call_with_retry(client.chat.completions.create,
                                               max_retries=max_retries, sleep=sleep,
                                               on_wait=waits.append,
                                               messages=[{"role": "user", "content": prompts[i]}],
                                               **request)
                except openai.BadRequestError as error:   # e.g. a prompt too long: skip it
                    skipped.append((i, str(error)[:200]))
                    if len(skipped) == 3 and not rows and not done:
                        # the first three refused, nothing bought: the request itself is refused
                        # (e.g. a provider that returns no logprobs), not three odd prompts
                        raise ValueError(
                            f"The API refused the first 3 requests and sold nothing: "
                            f"{skipped[0][1]} -- change the request (e.g. top_logprobs=0 if "
                            "it returns no logprobs) rather than the prompts.") from None
                    continue
                cost = bill(response.usage, price_per_1k_prompt, price_per_1k_completion)
                k = len(response.choices)
                for j, choice in enumerate(response.choices):
                    share = (response.usage.prompt_tokens if j == 0 else 0,
                             response.usage.completion_tokens // k)
                    rows.append(_row(i, prompts[i], choice, share, cost / k))
                spent += cost
                bar.update(min(cost, max(budget_usd - bar.n, 0)))
                bar.set_postfix(rows=len(rows), waits=len(waits), skipped=len(skipped))
                if len(rows) >= save_every:
                    _save_shard(rows, out_dir, shard_index)
                    rows, shard_index = [], shard_index + 1
        finally:   # keep what was bought, also on an interrupt
            if rows:
                _save_shard(rows, out_dir, shard_index)
            bar.close()
        if skipped and progress:
            print(f"harvest: skipped {len(skipped)} prompts the API refused, e.g. prompt "
                  f"{skipped[0][0]}: {skipped[0][1]}")
        if not _shards(out_dir):
            raise RuntimeError("Nothing was harvested: is the budget above zero and the prompt "
                               "list non-empty?")
        return load_harvest(out_dir)


# --------------------------------------------------------------------------------------
# Prompt strategies
# --------------------------------------------------------------------------------------
def _words(texts):
    words = []
    for t in texts:
        words.extend(t.split())
    if not words:
        raise ValueError("The texts hold no words to draw prompts from.")
    return words


def random_snippets(texts, n: int, n_words=(3, 8), seed: int = 0,
                    max_chars: int = 60) -> list[str]:
    """``n`` prompts: runs of 3-8 consecutive words starting at random places in ``texts``
    (cut to ``max_chars`` characters)."""
    rng = random.Random(seed)
    words = _words(texts)
    lo, hi = n_words
    out = []
    for _ in range(n):
        k = rng.randint(lo, hi)
        start = rng.randrange(0, max(1, len(words) - k))
        out.append(" ".join(words[start:start + k])[:max_chars].strip())
    return out


def diverse_snippets(texts, n: int, pool: int = 8, n_words=(3, 8), seed: int = 0) -> list[str]:
    """``n`` prompts spread over the corpus: draw ``pool * n`` random snippets, cluster them
    (TF-IDF, k-means with ``n`` clusters) and keep the snippet nearest each centre."""
    import numpy as np
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    candidates = list(dict.fromkeys(random_snippets(texts, pool * n, n_words, seed)))
    if len(candidates) <= n:
        return candidates[:n]
    vectors = TfidfVectorizer(token_pattern=r"[A-Za-z_]{2,}", sublinear_tf=True).fit_transform(
        candidates)
    km = MiniBatchKMeans(n_clusters=n, random_state=seed, n_init=3, batch_size=1024).fit(vectors)
    distances = km.transform(vectors)
    chosen = []
    for c in range(n):
        members = np.flatnonzero(km.labels_ == c)
        pick = members[distances[members, c].argmin()] if len(members) else \
            int(distances[:, c].argmin())
        chosen.append(candidates[int(pick)])
    return list(dict.fromkeys(chosen)) + [s for s in candidates if s not in set(chosen)][
        :n - len(set(chosen))]


def max_coverage(candidates, n: int) -> list[str]:
    """``n`` of ``candidates`` chosen greedily to cover the most distinct (lower-cased) words:
    at each step the candidate that brings the most words not yet covered.

    Taught in lesson 07.
    """
    chosen, seen, left = [], set(), list(dict.fromkeys(candidates))
    for _ in range(min(n, len(left))):
        best = max(left, key=lambda c: len({w.lower() for w in c.split()} - seen))
        chosen.append(best)
        seen |= {w.lower() for w in best.split()}
        left.remove(best)
    return chosen


def self_instruct_prompts(model, tokenizer, seed_prompts, n: int, max_new_tokens: int = 32,
                          n_words=(3, 8), temperature: float = 1.0, seed: int = 0,
                          batch_size: int = 16, max_rounds: int = 20) -> list[str]:
    """``n`` prompts the student writes itself: it continues seed prompts, and runs of words
    from its continuations become new prompts (deduplicated), as in Self-Instruct
    (Wang et al. 2023, arXiv:2212.10560) in miniature. May return fewer than ``n`` when
    the model writes too few words in ``max_rounds`` rounds of ``batch_size`` samples."""
    import torch
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model.eval()
    seed_prompts = list(seed_prompts)
    if not seed_prompts:
        raise ValueError("self_instruct_prompts needs at least one seed prompt.")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    out, seen = [], set()
    try:
        for _ in range(max_rounds):
            batch = [rng.choice(seed_prompts) for _ in range(batch_size)]
            enc = tokenizer(batch, return_tensors="pt", padding=True)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True,
                                     temperature=temperature, pad_token_id=pad)
            for row in gen[:, enc["input_ids"].shape[1]:]:
                words = tokenizer.decode(row, skip_special_tokens=True).split()
                k = rng.randint(*n_words)
                if len(words) < n_words[0]:
                    continue
                start = rng.randrange(0, max(1, len(words) - k + 1))
                prompt = " ".join(words[start:start + k])
                if prompt not in seen:
                    seen.add(prompt)
                    out.append(prompt)
                if len(out) >= n:
                    return out
    finally:
        tokenizer.padding_side = old_side
    return out
