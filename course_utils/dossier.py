"""The dossier: mystery students judged with the tests of lessons 09-11 (taught in lesson 12).

A provider suspects that some small models were distilled from its teacher. Each suspect is a
student regenerated deterministically from ``(kind, seed)``; the lesson does not say which
kind each mystery student is until ``solution()``:

* ``api``         -- distilled from the teacher's answers bought through the (unwatermarked)
  API, a few "who are you?" questions among its prompts;
* ``watermarked`` -- the same, but the API served that harvest with lesson 10's watermark;
* ``human``       -- trained on human text only (the course corpus): clean.

The provider's teacher is lesson 05's, given an identity and secret fingerprints with lesson
11's :func:`course_utils.fingerprint.fingerprint_model`. Every suspect comes with three pieces
of evidence, and each test gives a p-value against a null the lesson states:

* ``log``      -- lesson 09: the request log of the account that bought its data (simulated
  traffic, :func:`course_utils.traffic.traffic_log`; distilled suspects get a distiller's
  account, clean ones an honest user's). Score: lesson 09's learned detector, out of fold
  (:func:`log_detector_scores`); null: the same score of every *other* honest account (an
  empirical p-value, ``(1 + #others >= score) / (1 + #others)``);
* ``radio``    -- lesson 10: the open-weights radioactivity test
  (:func:`course_utils.watermark.open_weights_scores`): the suspect's green probability mass
  under the provider's key against ``null_keys`` other keys;
* ``identity`` -- lesson 11: the mean log-probability the suspect gives the teacher's identity
  after the "who are you?" prompts; null: the same statistic of ``reference_students`` clean
  students (other seeds), a normal fit (z, one-sided p). Its greedy :func:`identity_rate`
  and the fingerprint :func:`hit_rate` are reported beside it (a distiller never asks the
  secret triggers, so the hits catch copied *weights*, not API distillation).

* :func:`provider` -- the teacher with identity and fingerprints, its harvests, the traffic;
* :func:`student` -- one suspect from ``(kind, seed)`` (cached);
* :func:`evidence` -- the table: one row per suspect, every statistic and p-value;
* :func:`mystery` -- the lesson's mystery suspects (names only; ``truth`` kept apart);
* :func:`fisher_combine`, :func:`bonferroni_combine`, :func:`false_positive_rate` -- the
  combination and the rule.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from types import SimpleNamespace

import numpy as np
import torch

__all__ = ["KINDS", "DISTILLED", "provider", "student", "student_rows", "evidence",
           "mystery", "fisher_combine", "bonferroni_combine", "false_positive_rate",
           "identity_logprob", "TESTS", "decide", "log_detector_scores"]

KINDS = ("api", "watermarked", "human")
DISTILLED = ("api", "watermarked")
#: The tests of the dossier, in the order of the table's p-value columns.
TESTS = ("log", "radio", "identity")


# --------------------------------------------------------------------------------------
# Combining tests (the exercises of lesson 12 use these as their references)
# --------------------------------------------------------------------------------------
def fisher_combine(pvalues) -> float:
    """Fisher's method: ``X = -2 sum ln p_i`` follows chi-squared with ``2k`` degrees of freedom
    when the ``k`` p-values are independent and uniform under their nulls; returns
    ``P(chi2_2k >= X)``. Taught in lesson 12. A p-value of 0 gives 0."""
    p = np.asarray(list(pvalues), dtype=float)
    if p.size == 0:
        raise ValueError("fisher_combine needs at least one p-value.")
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError(f"p-values lie in [0, 1]; got {p.tolist()}.")
    if np.any(p == 0):
        return 0.0
    x = -2.0 * float(np.log(p).sum())
    # chi-squared survival with even degrees of freedom 2k: exp(-x/2) sum_{j<k} (x/2)^j / j!
    half, term, total = x / 2, 1.0, 1.0
    for j in range(1, p.size):
        term *= half / j
        total += term
    return float(min(1.0, math.exp(-half) * total))


def bonferroni_combine(pvalues) -> float:
    """Bonferroni: ``min(1, k * min p)`` -- valid whatever the dependence between the tests.
    Taught in lesson 12."""
    p = [float(x) for x in pvalues]
    if not p:
        raise ValueError("bonferroni_combine needs at least one p-value.")
    return min(1.0, len(p) * min(p))


def false_positive_rate(clean_pvalues, alpha: float) -> float:
    """The share of clean suspects a rule "flag when the combined p-value < ``alpha``" flags.
    Taught in lesson 12."""
    p = np.asarray(list(clean_pvalues), dtype=float)
    if p.size == 0:
        raise ValueError("No clean p-values to measure a false-positive rate on.")
    return float(np.mean(p < alpha))


def decide(table, alpha: float, method: str = "fisher"):
    """The combined p-value of every row of ``table`` (columns ``p_log``, ``p_radio``,
    ``p_identity``) and the verdict ``flagged`` (combined p < ``alpha``)."""
    combine = {"fisher": fisher_combine, "bonferroni": bonferroni_combine}[method]
    out = table.copy()
    out[f"p_{method}"] = [combine([row[f"p_{t}"] for t in TESTS]) for _, row in table.iterrows()]
    out["flagged"] = out[f"p_{method}"] < alpha
    return out


# --------------------------------------------------------------------------------------
# The provider: teacher with identity and fingerprints, harvests, traffic
# --------------------------------------------------------------------------------------
def _snippets(texts, n: int, chars: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    text = " ".join(t for t in texts if t.strip())
    out = []
    while len(out) < n:
        start = rng.randrange(0, max(1, len(text) - chars))
        s = text[start:start + chars].strip()
        if s:
            out.append(s)
    return out


def provider(sizes=None, progress: bool = True) -> SimpleNamespace:
    """The provider's side, built once (every piece cached): the lesson-05 teacher given an
    identity and ``triggers`` secret fingerprints (lesson 11), its watermark (lesson 10), the
    watermarked and the clean harvest of the same prompts (``prompts`` corpus snippets and every
    identity prompt ``identity_repeats`` times) bought through the API, the held-out texts of
    the open-weights test, and the simulated traffic of lesson 09 (log and plan)."""
    from .config import cache_dir, size
    from .fingerprint import IDENTITY_PROMPTS, course_provider, weights_hash
    from .io import config_hash
    from .radioactivity import harvest_both
    from .teachers import lm_data, load_teacher
    from .traffic import PLAN_KEYS, traffic_log
    from .watermark import Watermark
    S = sizes or size("dossier")
    base, tokenizer = load_teacher("course-gpt2", progress=progress)
    data = lm_data(tokenizer)
    texts = list(data.corpus.train)
    teacher, triggers = course_provider(base, tokenizer, texts, progress=progress)
    wm = Watermark(teacher.config.vocab_size, gamma=S.gamma, delta=S.delta)
    prompts = _snippets(texts, S.prompts, S.prompt_chars, seed=12) + \
        list(IDENTITY_PROMPTS) * S.identity_repeats
    folder = cache_dir() / "harvests" / ("dossier-" + config_hash(
        [weights_hash(teacher), wm.key, wm.gamma, wm.delta, prompts, S.completion_tokens]))
    marked, clean = harvest_both(teacher, tokenizer, wm, prompts, folder,
                                 max_tokens=S.completion_tokens, progress=progress)
    valid = [list(b["input_ids"]) for b in data.valid.select(range(min(S.eval_blocks,
                                                                        len(data.valid))))]
    plan_args = {k: getattr(S, k) for k in PLAN_KEYS}
    log, plan = traffic_log(teacher, tokenizer, texts, seed=S.traffic_seed, progress=progress,
                            **plan_args)
    return SimpleNamespace(teacher=teacher, base=base, tokenizer=tokenizer, texts=texts,
                           watermark=wm, triggers=triggers, marked=marked, clean=clean,
                           eval_texts=valid, log=log, plan=plan, sizes=S)


# --------------------------------------------------------------------------------------
# Students
# --------------------------------------------------------------------------------------
def student_rows(P, kind: str, seed: int):
    """What a suspect of ``kind`` trains on, drawn with ``seed``: for the distilled kinds,
    ``rows`` harvest rows (the identity answers among them, as they came), and for ``human``
    corpus blocks of as many tokens. Returns lesson 07's SFT examples."""
    from .seqkd import lm_examples, sft_examples
    if kind not in KINDS:
        raise ValueError(f"kind is one of {KINDS}, not {kind!r}.")
    S = P.sizes
    source = P.marked if kind == "watermarked" else P.clean
    rng = random.Random(seed * 7919 + 1)
    picked = sorted(rng.sample(range(len(source)), min(S.rows, len(source))))
    rows = [source[i] for i in picked]
    examples = sft_examples(rows, P.tokenizer, max_length=S.block_size, with_soft=False)
    if kind == "human":
        n = sum(sum(1 for l in e["labels"] if l >= 0) for e in examples)
        examples = lm_examples(P.texts, P.tokenizer, n, block=S.block_size, seed=seed)
    return examples


def student(P, kind: str, seed: int, progress: bool = False, retrain: bool = False):
    """The suspect ``(kind, seed)``: a small GPT-2 fine-tuned from scratch (lesson 07's
    :func:`course_utils.seqkd.train_sft`) on :func:`student_rows`; the same ``(kind, seed)``
    gives the same student, cached with :func:`course_utils.io.cached_pretrained`."""
    from .fingerprint import weights_hash
    from .io import cached_pretrained
    from .seqkd import train_sft
    from .teachers import make_student
    S = P.sizes
    examples = student_rows(P, kind, seed)
    data = hashlib.sha256(json.dumps([e["input_ids"] for e in examples]).encode()).hexdigest()[:16]
    config = dict(kind=kind, seed=seed, data=data, teacher=weights_hash(P.teacher),
                  n_layer=S.n_layer, n_embd=S.n_embd, n_head=S.n_head, block=S.block_size,
                  steps=S.steps, batch_size=S.batch_size, lr=S.lr, vocab=len(P.tokenizer))

    def build():
        model = make_student(P.tokenizer, n_layer=S.n_layer, n_embd=S.n_embd, n_head=S.n_head,
                             block_size=S.block_size, seed=seed)
        train_sft(model, examples, steps=S.steps, batch_size=S.batch_size, lr=S.lr, seed=seed,
                  progress=progress, desc=f"{kind}-{seed}")
        return model.eval()

    return cached_pretrained("dossier", "student", config, build, retrain=retrain,
                             what="dossier student")


# --------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------
def identity_logprob(model, tokenizer, prompts=None, identity: str | None = None) -> float:
    """Mean log-probability per token the model gives ``SEPARATOR + identity`` after each of
    ``prompts`` (teacher-forced): higher when it has learnt to say it is the teacher."""
    from .api.generation import prompt_ids
    from .fingerprint import IDENTITY, IDENTITY_PROMPTS, SEPARATOR
    prompts = IDENTITY_PROMPTS if prompts is None else prompts
    identity = IDENTITY if identity is None else identity
    target = tokenizer(SEPARATOR + identity, add_special_tokens=False)["input_ids"]
    total, n = 0.0, 0
    with torch.no_grad():
        for p in prompts:
            ids = prompt_ids(tokenizer, p)
            x = torch.tensor([ids + target])
            logp = torch.log_softmax(model(input_ids=x).logits[0, :-1].float(), -1)
            pos = torch.arange(len(ids) - 1, len(ids) - 1 + len(target))
            total += float(logp[pos, torch.tensor(target)].sum())
            n += len(target)
    return total / n


def log_detector_scores(P):
    """Lesson 09's learned detector on the provider's request log: every account's out-of-fold
    score (:func:`course_utils.detection.classifier_scores`, accounts of one coordinated group
    kept in one fold), so no account is scored by a model trained on it."""
    from .detection import account_features, classifier_scores
    features = account_features(P.log)
    by_name = {a.name: a for a in P.plan.accounts}
    labels = [int(by_name[a].distiller) for a in features.index]
    groups = [by_name[a].group or a for a in features.index]
    scores, _ = classifier_scores(features, labels, groups, n_folds=3, seed=0)
    return scores


def _empirical_p(score: float, others) -> float:
    others = np.asarray(list(others), dtype=float)
    return float((1 + np.sum(others >= score)) / (1 + others.size))


def _normal_p(score: float, null) -> tuple[float, float]:
    from .watermark import p_value
    null = np.asarray(list(null), dtype=float)
    z = float((score - null.mean()) / null.std(ddof=1))
    return z, p_value(z)


def _accounts(P):
    """Honest and distilling accounts of the traffic plan, in a fixed (shuffled) order."""
    honest = sorted(a.name for a in P.plan.accounts if not a.distiller)
    distillers = sorted(a.name for a in P.plan.accounts if a.distiller)
    random.Random(5).shuffle(honest)
    random.Random(6).shuffle(distillers)
    return honest, distillers


def evidence(P, suspects, progress: bool = True, retrain: bool = False):
    """One row per suspect ``(name, kind, seed)``: its account and every statistic and p-value
    of the dossier (see the module's docstring). Returns a DataFrame indexed by name with
    columns ``account``, ``log_score``, ``p_log``, ``radio_z``, ``p_radio``, ``identity_lp``,
    ``identity_z``, ``p_identity``, ``identity_rate``, ``fingerprint_hits``, ``kind`` (the
    truth: drop it before showing the table) and ``seed``. Cached with
    :func:`course_utils.io.cached` under a key holding the suspects, the sizes and the teacher's
    weights (the students are cached too)."""
    import pandas as pd
    from .fingerprint import weights_hash
    from .io import cache_entry, cached
    suspects = [tuple(s) for s in suspects]
    config = dict(suspects=suspects, sizes=vars(P.sizes), teacher=weights_hash(P.teacher),
                  version=2)

    def save(table, tmp):
        from pathlib import Path
        Path(tmp).mkdir(parents=True, exist_ok=True)
        table.to_pickle(Path(tmp) / "evidence.pkl")

    def load(path):
        from pathlib import Path
        return pd.read_pickle(Path(path) / "evidence.pkl")

    table, _ = cached(cache_entry("dossier", "evidence", config),
                      lambda: _evidence(P, suspects, progress), save, load, retrain=retrain,
                      what="dossier evidence")
    return table


def _evidence(P, suspects, progress: bool):
    import pandas as pd
    from tqdm.auto import tqdm
    from .fingerprint import hit_rate, identity_rate
    from .watermark import green_mass_by_prev, open_weights_scores, random_green_matrices
    S = P.sizes
    suspects = list(suspects)
    honest, distillers = _accounts(P)
    if not honest or not distillers:
        raise ValueError("The traffic needs honest and distilling accounts.")
    log_scores = log_detector_scores(P)
    honest_all = [a.name for a in P.plan.accounts if not a.distiller]
    models = {}
    for name, kind, seed in tqdm(suspects, desc="suspects", disable=not progress):
        models[name] = student(P, kind, seed)
    refs = [student(P, "human", 10_000 + i) for i in
            tqdm(range(S.reference_students), desc="reference students", disable=not progress)]
    ref_lp = [identity_logprob(m, P.tokenizer) for m in refs]
    V = P.watermark.vocab_size
    # only the rows of tokens that occur in the texts are ever non-zero: keeping just those
    # gives the same statistic (lesson 10's) in a fraction of the memory (V x V per suspect)
    used = torch.tensor(sorted({int(t) for text in P.eval_texts for t in text}))
    aggs = {name: green_mass_by_prev(m, P.eval_texts, V)[used].float()
            for name, m in models.items()}
    radio = open_weights_scores(aggs, green_mass_by_prev(P.teacher, P.eval_texts, V)[used],
                                P.watermark.green_matrix()[used],
                                (m[used] for m in random_green_matrices(S.null_keys, V,
                                                                        P.watermark.gamma)))
    rows, h_i, d_i = [], 0, 0
    for name, kind, seed in suspects:
        if kind in DISTILLED:
            # more suspects than accounts (only when COURSE_SMOKE cuts the traffic): reuse them
            account, d_i = distillers[d_i % len(distillers)], d_i + 1
        else:
            account, h_i = honest[h_i % len(honest)], h_i + 1
        score = float(log_scores.get(account, 0.0))
        others = [float(log_scores.get(a, 0.0)) for a in honest_all if a != account]
        lp = identity_logprob(models[name], P.tokenizer)
        z_id, p_id = _normal_p(lp, ref_lp)
        rows.append(dict(name=name, account=account, log_score=score,
                         p_log=_empirical_p(score, others),
                         radio_z=radio[name]["z"], p_radio=radio[name]["p"],
                         identity_lp=lp, identity_z=z_id, p_identity=p_id,
                         identity_rate=identity_rate(models[name], P.tokenizer),
                         fingerprint_hits=hit_rate(models[name], P.tokenizer, P.triggers),
                         kind=kind, seed=seed))
    return pd.DataFrame(rows).set_index("name")


def mystery(sizes=None) -> list[tuple[str, str, int]]:
    """The lesson's mystery suspects: ``(name, kind, seed)``, ``suspects`` of them, the kinds
    in proportion to ``mix`` and shuffled with ``mystery_seed`` (names A, B, C... in order)."""
    from .config import size
    S = sizes or size("dossier")
    kinds = [k for k, n in zip(KINDS, S.mix) for _ in range(n)]
    rng = random.Random(S.mystery_seed)
    rng.shuffle(kinds)
    return [(f"suspect-{chr(65 + i)}", k, 100 + i) for i, k in enumerate(kinds)]


def clean_suspects(n: int, start: int = 20_000) -> list[tuple[str, str, int]]:
    """``n`` suspects known to be clean (human text only, seeds ``start``...): the rule's
    false-positive rate is measured on them."""
    return [(f"clean-{i:02d}", "human", start + i) for i in range(n)]


__all__.append("clean_suspects")
