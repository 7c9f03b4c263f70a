"""Radioactivity: does a student trained on watermarked text carry the watermark? (lesson 10)

The experiment of lesson 10, built on lesson 07's pipeline: the provider serves its teacher
watermarked (:mod:`course_utils.watermark`) through the course API, a distiller buys
completions with the lesson-07 harvester (:func:`course_utils.harvest.harvest`) from it and
from a clean source, mixes them at a chosen watermarked share, and fine-tunes students on the
mix (:func:`course_utils.seqkd.train_sft`, cached with :func:`course_utils.io.cached`). The
provider then tests each student (Sander et al. 2024, arXiv:2402.14904):

* closed model: the student's own samples, each (previous token, token) pair scored once over
  the whole corpus, pairs of the prompts left out (:func:`~course_utils.watermark.dedup_score`);
* open weights: the student's next-token distributions on texts the provider chooses, against
  a null of other keys (:func:`~course_utils.watermark.open_weights_scores`).

* :func:`harvest_both` -- the watermarked and the clean harvest of the same prompts;
* :func:`mix` -- a training set with a given watermarked share;
* :func:`student_on` -- a student fine-tuned on it (cached);
* :func:`student_samples` -- what the student writes, for the closed-model test.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

__all__ = ["harvest_both", "mix", "student_on", "student_samples", "harvest_fingerprint",
           "rows_with_ids", "train_share_students", "closed_model_scores", "student_sizes",
           "share_runs", "open_weights_table",
           "completion_ids"]


def harvest_both(teacher, tokenizer, watermark, prompts, out_dir, *, max_tokens: int,
                 price_in: float = 0.0025, price_out: float = 0.01, progress: bool = True):
    """Buy one completion per prompt from the watermarked API and one from a clean API (the
    same teacher, served twice), with lesson 07's harvester. Returns ``(marked, clean)``
    (``datasets`` Datasets with a row per prompt). Saved in ``out_dir``: a second call resumes."""
    import openai
    from .api import serve
    from .harvest import harvest
    out_dir = Path(out_dir)
    budget = len(prompts) * (32 * price_in + max_tokens * price_out) / 1000 * 2 + 0.01
    result = []
    for name, wm in [("marked", watermark), ("clean", None)]:
        with serve(teacher, tokenizer, model_name="course-teacher", watermark=wm,
                   price_per_1k_prompt=price_in, price_per_1k_completion=price_out,
                   log_path=out_dir / f"{name}-log.sqlite") as api:
            client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
            result.append(harvest(client, prompts, out_dir / name, model="course-teacher",
                                  budget_usd=budget, price_per_1k_prompt=price_in,
                                  price_per_1k_completion=price_out, max_tokens=max_tokens,
                                  temperature=1.0, top_logprobs=1, progress=progress))
    return tuple(result)


def completion_ids(dataset, tokenizer) -> list[list[int]]:
    """The completions' token ids, exactly as the API gave them (from their bytes; re-tokenised
    text where a row has none)."""
    from .tokenizer import bytes_to_id
    lookup = bytes_to_id(tokenizer)
    out = []
    for row in dataset:
        ids = [lookup.get(bytes.fromhex(h)) for h in row["token_hex"]]
        if not row["token_hex"] or None in ids:
            ids = tokenizer(row.get("completion", ""), add_special_tokens=False)["input_ids"]
        out.append(list(ids))
    return out


def mix(marked, clean, share: float, n: int | None = None):
    """The first ``n`` prompts' completions (all when None), the first ``round(share * n)``
    of them from the watermarked harvest and the rest from the clean one. Returns
    ``(rows, n_marked)``: a list of row dicts and how many are watermarked."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share is the watermarked fraction: between 0 and 1, not {share}.")
    by_id_m = {r["prompt_id"]: r for r in marked}
    by_id_c = {r["prompt_id"]: r for r in clean}
    ids = sorted(set(by_id_m) & set(by_id_c))
    if n is not None:
        if n > len(ids):
            raise ValueError(f"asked for {n} prompts but the harvests share only {len(ids)}.")
        ids = ids[:n]
    k = round(share * len(ids))
    rows = [by_id_m[i] for i in ids[:k]] + [by_id_c[i] for i in ids[k:]]
    return rows, k


def harvest_fingerprint(rows, with_logprobs: bool = False) -> str:
    """A short hash of a training set's text (part of a student's cache key); with
    ``with_logprobs``, of its returned log-probabilities too (a student trained on them)."""
    h = hashlib.sha256()
    for r in rows:
        part = [r["prompt"], r["token_hex"]]
        if not r["token_hex"]:
            part.append(r.get("completion", ""))     # text only: no tokens were returned
        if with_logprobs:
            part += [r.get("token_logprobs"), r.get("top_hex"), r.get("top_logprobs")]
        h.update(json.dumps(part).encode())
    return h.hexdigest()[:16]


def student_on(rows, tokenizer, *, n_layer: int, n_embd: int, n_head: int, block_size: int,
               steps: int, batch_size: int, lr: float, seed: int, tag: str = "",
               soft_weight: float = 0.0, progress: bool = True, retrain: bool = False):
    """A student fine-tuned with lesson 07's pipeline (:func:`course_utils.seqkd.sft_examples`,
    :func:`course_utils.seqkd.train_sft`) on ``rows``; cached under a key holding the rows'
    fingerprint and every size. ``soft_weight`` > 0 also trains on the rows' top-k
    log-probabilities (lesson 07's "+ top-k logprobs" student; lesson 11)."""
    from .io import cached_pretrained
    from .seqkd import sft_examples, train_sft
    from .teachers import make_student
    config = dict(data=harvest_fingerprint(rows, with_logprobs=bool(soft_weight)),
                  n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                  block_size=block_size, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  vocab=len(tokenizer))
    if soft_weight:
        config["soft_weight"] = float(soft_weight)

    def build():
        student = make_student(tokenizer, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                               block_size=block_size, seed=seed)
        examples = sft_examples(rows, tokenizer, max_length=block_size,
                                with_soft=bool(soft_weight))
        train_sft(student, examples, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  soft_weight=float(soft_weight), progress=progress, desc=tag or "student")
        return student.eval()

    return cached_pretrained("radioactivity", "student", config, build, retrain=retrain,
                             what="radioactivity student")


def student_samples(student, heads, max_new_tokens: int, seed: int = 0,
                    batch_size: int = 64) -> list[list[int]]:
    """The student's continuations of each prompt in ``heads`` (lists of token ids, all of one
    length), sampled at temperature 1, cut at EOS."""
    from .config import few_threads
    from .watermark import watermarked_generate
    out = []
    with few_threads(student):
        for start in range(0, len(heads), batch_size):
            batch = torch.tensor([list(h) for h in heads[start:start + batch_size]])
            out += watermarked_generate(student, batch, None, max_new_tokens=max_new_tokens,
                                        seed=seed + start,
                                        attention_mask=torch.ones_like(batch))
    return out


def rows_with_ids(rows, id_lists, tokenizer) -> list[dict]:
    """Copies of harvest ``rows`` whose completions are replaced by ``id_lists`` (e.g. a
    paraphrase): text and token bytes rewritten, everything else kept."""
    from .tokenizer import token_bytes
    out = []
    for row, ids in zip(rows, id_lists):
        new = dict(row)
        new["token_hex"] = [token_bytes(tokenizer, int(t)).hex() for t in ids]
        new["completion"] = tokenizer.decode([int(t) for t in ids])
        new["top_hex"], new["top_logprobs"], new["token_logprobs"] = [], [], []
        out.append(new)
    return out


def train_share_students(runs, tokenizer, sizes, progress: bool = True) -> list[dict]:
    """Fine-tune (or load from the cache) one student per run. ``runs``: dicts with ``rows``,
    ``seed`` and any labels (``share``, ``n``, ``data``...); ``sizes``: an object with
    ``n_layer``, ``n_embd``, ``n_head``, ``block_size``, ``steps``, ``batch_size``, ``lr``.
    Returns the runs with ``student`` (the model) and ``marked_tokens`` (how many watermarked
    completion tokens it was trained on) added."""
    from tqdm.auto import tqdm
    out = []
    for run in tqdm(runs, desc="students", disable=not progress):
        student = student_on(run["rows"], tokenizer, n_layer=sizes.n_layer, n_embd=sizes.n_embd,
                             n_head=sizes.n_head, block_size=sizes.block_size, steps=sizes.steps,
                             batch_size=sizes.batch_size, lr=sizes.lr, seed=run["seed"],
                             progress=False)
        out.append(dict(run, student=student))
    return out


def closed_model_scores(students, watermark, heads, max_new_tokens: int, progress: bool = True,
                        calibration_keys: int = 0) -> list[dict]:
    """For each trained student: its samples from ``heads`` (the watermarked prompts), the naive
    score and the de-duplicated score under the provider's key, and the de-duplicated p-values
    under ``calibration_keys`` other keys (the null; :func:`~course_utils.watermark.random_green_matrices`)."""
    from tqdm.auto import tqdm
    from .watermark import Watermark, dedup_score, naive_score, random_green_matrices
    others = [Watermark.from_matrix(m, gamma=watermark.gamma) for m in
              random_green_matrices(calibration_keys, watermark.vocab_size, watermark.gamma,
                                    seed=777)]
    rows = []
    for run in tqdm(students, desc="samples", disable=not progress):
        samples = student_samples(run["student"], heads, max_new_tokens, seed=1000 + run["seed"])
        naive = naive_score(samples, watermark, heads)
        valid = dedup_score(samples, watermark, heads)
        null_p = [dedup_score(samples, other, heads)["p"] for other in others]
        rows.append(dict(naive_z=naive["z"], naive_p=naive["p"], dedup_z=valid["z"],
                         dedup_p=valid["p"], dedup_pairs=valid["n"], null_dedup_p=null_p))
    return rows


def student_sizes(S, block_size: int):
    """The student-training sizes of an experiment's size entry (plus the block size)."""
    from types import SimpleNamespace
    return SimpleNamespace(n_layer=S.n_layer, n_embd=S.n_embd, n_head=S.n_head,
                           block_size=block_size, steps=S.steps, batch_size=S.batch_size, lr=S.lr)


def share_runs(marked, clean, shares, seeds, harvest_sizes=()) -> list[dict]:
    """The students of the curve: every share on the whole harvest, and 100% on the first
    ``n`` prompts for each ``n`` in ``harvest_sizes``, for every seed."""
    runs = []
    for seed in seeds:
        for share in shares:
            rows, k = mix(marked, clean, share)
            runs.append(dict(kind="share", share=share, n=len(rows), seed=seed, rows=rows,
                             marked_texts=k,
                             marked_tokens=sum(len(r["token_hex"]) for r in rows[:k])))
        for n in harvest_sizes:
            rows, k = mix(marked, clean, 1.0, n)
            runs.append(dict(kind="fewer", share=1.0, n=n, seed=seed, rows=rows, marked_texts=k,
                             marked_tokens=sum(len(r["token_hex"]) for r in rows[:k])))
    return runs


def open_weights_table(students, teacher, texts, watermark, null_keys: int,
                       calibration_keys: int, progress: bool = True) -> list[dict]:
    """The open-weights test of each student (its distributions on ``texts`` against
    ``null_keys`` other keys, paired with the ``teacher``), and for calibration the z of the
    first ``calibration_keys`` null keys, each standing in for the true key against the rest."""
    import numpy as np
    from tqdm.auto import tqdm
    from .watermark import green_mass_by_prev, open_weights_scores, p_value, random_green_matrices
    V = watermark.vocab_size
    aggs = {i: green_mass_by_prev(run["student"], texts, V)
            for i, run in enumerate(tqdm(students, desc="distributions", disable=not progress))}
    ref = green_mass_by_prev(teacher, texts, V)
    scores = open_weights_scores(aggs, ref, watermark.green_matrix(),
                                 random_green_matrices(null_keys, V, watermark.gamma))
    rows = []
    for i in range(len(students)):
        null = scores[i]["null"]
        cal = []
        for j in range(min(calibration_keys, len(null))):
            rest = np.delete(null, j)
            cal.append(p_value((null[j] - rest.mean()) / rest.std(ddof=1)))
        rows.append(dict(open_z=scores[i]["z"], open_p=scores[i]["p"], null_open_p=cal))
    return rows


def harvest_folder(teacher, watermark, sizes, profile: str) -> Path:
    """Where lesson 10's harvests live in the cache: one folder per teacher, watermark and
    harvest size (the harvester resumes there, so a second run buys nothing)."""
    from .config import cache_dir
    from .io import config_hash
    key = config_hash([getattr(teacher, "course_info", {}).get("key"), watermark.key,
                       watermark.gamma, watermark.delta, sizes.prompts, sizes.max_tokens])
    return cache_dir() / "harvests" / f"lesson10-{profile}-{key}"
