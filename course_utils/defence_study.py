"""Output defences on one teacher, with both sides of the trade (lesson 11).

A provider that changes its answers (:class:`course_utils.defences.Defence`) makes a distiller's
student worse, and its honest users' answers too. This module measures both, through the
course's own API and harvester (lesson 07), so that every defence can sit on one plot:

* :func:`distiller_prompts` -- a distiller's prompts: snippets of text, and a few questions
  about the model itself ("Who are you?"), as real prompt sets contain;
* :func:`defended_harvest` -- one harvest bought from the teacher served with a defence
  (cached: the same settings never buy twice);
* :func:`answer_costs` -- what an honest user pays: how far the distribution the answers are
  drawn from is from the model's own (KL), the model's perplexity of them, and how far the
  returned log-probabilities are from the model's;
* :func:`defence_student` -- lesson 07's student (text only, or with the top-k
  log-probabilities) fine-tuned on a harvest, cached; :func:`human_student` the same student
  on human text (optionally quoting the teacher), cached;
* :func:`task_scores` -- the honest users' task score under each defence that changes the text:
  lesson 08's adder served with it, its answers checked by lesson 08's verifier;
* :func:`defence_menu` -- the lesson's defences by name; :func:`defence_students` -- both
  distillers on every harvest over seeds, as one table with each student's gain;
  :func:`strongest` the better distiller per defence, :func:`defence_claims` its paired test
  against no defence.
"""
from __future__ import annotations

import hashlib
import json
import math
import random

import numpy as np
import torch

__all__ = ["distiller_prompts", "defended_harvest", "answer_costs", "defence_student",
           "defence_key", "human_student", "defence_menu", "defence_students", "strongest",
           "defence_claims", "cheapest_halving", "task_scores"]


def distiller_prompts(texts, n: int, identity_repeats: int = 0, seed: int = 0) -> list[str]:
    """``n`` snippets of ``texts`` (lesson 07's :func:`course_utils.harvest.random_snippets`)
    and every prompt of :data:`course_utils.fingerprint.IDENTITY_PROMPTS` ``identity_repeats``
    times, shuffled with ``seed``. Taught in lesson 11: a distiller's prompt set that asks the
    model about itself now and then, as instruction data sets do."""
    from .fingerprint import IDENTITY_PROMPTS
    from .harvest import random_snippets
    if int(n) < 0 or int(identity_repeats) < 0:
        raise ValueError(f"n and identity_repeats must be >= 0 (got {n}, {identity_repeats}).")
    prompts = random_snippets(texts, int(n), seed=seed)
    prompts += list(IDENTITY_PROMPTS) * int(identity_repeats)
    random.Random(seed).shuffle(prompts)
    return prompts


def defence_key(defence) -> dict:
    """What a defence's cache key holds: every setting, and the proxy's weights if it has one."""
    from .fingerprint import weights_hash
    if defence is None:
        return {}
    key = dict(round=defence.round_decimals, noise=defence.noise_std, top1=defence.top1_only,
               min_t=defence.min_temperature, lam=defence.antidistill)
    if defence.antidistill != 0:
        key["proxy"] = [weights_hash(defence.proxy.plus), weights_hash(defence.proxy.minus)]
    return key


def defended_harvest(model, tokenizer, defence, prompts, *, name: str, max_tokens: int,
                     top_logprobs: int, temperature: float = 1.0, price_in: float = 0.0025,
                     price_out: float = 0.01, progress: bool = True):
    """One completion per prompt bought from ``model`` served with ``defence`` (None: none),
    with lesson 07's harvester, at ``temperature``, asking for ``top_logprobs`` alternatives per
    token -- none when the defence refuses log-probabilities (the distiller falls back to text).

    Taught in lesson 11. Kept in the course cache under a key holding the model's weights, the
    defence, the prompts and every setting: a second call reads it back."""
    import openai
    from .api import serve
    from .fingerprint import weights_hash
    from .harvest import harvest, load_harvest
    from .io import cache_entry
    k = 0 if defence is not None and defence.top1_only else int(top_logprobs)
    config = dict(model=weights_hash(model), defence=defence_key(defence),
                  prompts=hashlib.sha256(json.dumps(list(prompts)).encode()).hexdigest()[:16],
                  max_tokens=max_tokens, top_logprobs=k, temperature=temperature,
                  price=[price_in, price_out])
    out_dir = cache_entry("defences", f"harvest-{name}", config)
    budget = len(prompts) * (64 * price_in + max_tokens * price_out) / 1000 + 0.01
    if (out_dir / "done").exists():
        return load_harvest(out_dir)
    with serve(model, tokenizer, model_name="course-teacher", defence=defence,
               price_per_1k_prompt=price_in, price_per_1k_completion=price_out,
               log_path=out_dir.parent / f"{out_dir.name}-log.sqlite") as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        rows = harvest(client, prompts, out_dir, model="course-teacher", budget_usd=budget,
                       price_per_1k_prompt=price_in, price_per_1k_completion=price_out,
                       max_tokens=max_tokens, temperature=temperature, top_logprobs=k,
                       progress=progress)
    if len(rows) == len(prompts):
        (out_dir / "done").write_text("complete\n")
    return rows


def _rows_ids(rows, tokenizer):
    from .api.generation import prompt_ids
    from .radioactivity import completion_ids
    heads = [prompt_ids(tokenizer, r["prompt"]) for r in rows]
    return heads, completion_ids(rows, tokenizer)


def answer_costs(model, tokenizer, rows, defence=None, requested_temperature: float = 1.0,
                 batch_size: int = 32) -> dict:
    """What the honest users of a defended API get, judged against ``model`` itself:

    * ``sampling_kl`` -- how far the distribution each answer token was drawn from is from the
      model's own at that point, KL(served || model) in nats per token, averaged over the
      answers' tokens (0 when ``defence`` leaves sampling alone). For a request at
      ``requested_temperature``, the served distribution is ``softmax(logits / T)`` at the
      defence's temperature, plus antidistillation's ``lambda * Delta``; it is compared with the
      model at the requested temperature;
    * ``answer_ppl`` -- the model's perplexity of the answer text after its prompt. A defence
      that makes text repetitive can *lower* it (repetition is likely text), which is why the
      cost is the KL above;
    * ``logprob_error`` -- the mean absolute gap, in nats, between the returned log-probability
      of each answer token and the model's own (NaN when none were returned).

    Taught in lesson 11."""
    from .config import API_MODEL_PARAMS, few_threads
    from .watermark import continuation_perplexity
    rows = list(rows)
    heads, texts = _rows_ids(rows, tokenizer)
    # the perplexity of the answer *text*, tokenised afresh: the same text costs the same,
    # whether or not the API returned its tokens
    retok = [tokenizer(r["completion"], add_special_tokens=False)["input_ids"] for r in rows]
    keep = [i for i, t in enumerate(retok) if t]
    if not keep:
        raise ValueError("No answer has any token: nothing to judge.")
    ppl = continuation_perplexity(model, [heads[i] for i in keep], [retok[i] for i in keep],
                                  batch_size=batch_size)
    t_req = float(requested_temperature)
    t_served = defence.temperature(t_req) if defence is not None else t_req
    pair = defence.proxy if defence is not None and defence.antidistill != 0 else None
    gaps, kls = [], []
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        for i in range(len(rows)):
            if not texts[i]:
                continue
            ids = torch.tensor([heads[i] + texts[i]])
            start = len(heads[i]) - 1            # the positions that predict the answer
            logits = model(input_ids=ids).logits[0, start:-1].double()
            own = torch.log_softmax(logits, dim=-1)
            returned = rows[i].get("token_logprobs") or []
            if len(returned) == len(texts[i]):
                chosen = own.gather(1, torch.tensor(texts[i])[:, None])[:, 0]
                gaps.append((chosen - torch.tensor(returned, dtype=torch.float64)).abs().numpy())
            if t_served != t_req or pair is not None:
                asked = torch.log_softmax(logits / t_req, dim=-1)
                served = logits / t_served
                if pair is not None:
                    up = pair.plus(input_ids=ids).logits[0, start:-1].double()
                    down = pair.minus(input_ids=ids).logits[0, start:-1].double()
                    delta = (torch.log_softmax(up, -1) - torch.log_softmax(down, -1)) \
                        / (2 * pair.epsilon)
                    served = served + defence.antidistill * delta
                served = torch.log_softmax(served, dim=-1)
                kls.append((served.exp() * (served - asked)).sum(-1).numpy())
            else:
                kls.append(np.zeros(len(texts[i])))
    error = float(np.concatenate(gaps).mean()) if gaps else math.nan
    return {"sampling_kl": float(np.concatenate(kls).mean()), "answer_ppl": ppl,
            "logprob_error": error}


def defence_student(rows, tokenizer, *, soft: bool, n_layer: int, n_embd: int, n_head: int,
                    block_size: int, steps: int, batch_size: int, lr: float, soft_weight: float,
                    seed: int, tag: str = "", progress: bool = True):
    """Lesson 07's student fine-tuned on a harvest: on the text only, or (``soft``) also on
    the returned top-k log-probabilities with weight ``soft_weight``. Cached
    (:func:`course_utils.radioactivity.student_on`). Taught in lesson 11."""
    from .radioactivity import student_on
    return student_on(list(rows), tokenizer, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                      block_size=block_size, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      soft_weight=soft_weight if soft else 0.0, tag=tag, progress=progress)


def human_student(texts, tokenizer, *, n_tokens: int, block: int, quotes: int = 0,
                  n_layer: int, n_embd: int, n_head: int, block_size: int, steps: int,
                  batch_size: int, lr: float, seed: int, progress: bool = True, **_):
    """The same student trained on ``n_tokens`` of human ``texts`` instead of a harvest; with
    ``quotes`` > 0, the texts also quote the teacher introducing itself (each identity question
    and :data:`course_utils.fingerprint.IDENTITY`, ``quotes`` times), as web text scraped after
    a popular model's release does. Cached. Taught in lesson 11."""
    from .fingerprint import IDENTITY, IDENTITY_PROMPTS
    from .io import cached_pretrained
    from .seqkd import examples_from_pairs, lm_examples, train_sft
    from .teachers import make_student
    config = dict(texts=hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()[:16],
                  n_tokens=int(n_tokens), block=block, quotes=int(quotes), identity=IDENTITY,
                  n_layer=n_layer, n_embd=n_embd, n_head=n_head, block_size=block_size,
                  steps=steps, batch_size=batch_size, lr=lr, seed=seed, vocab=len(tokenizer))

    def build():
        examples = lm_examples(texts, tokenizer, int(n_tokens), block=block, seed=seed)
        quoted = list(IDENTITY_PROMPTS) * int(quotes)
        examples += examples_from_pairs(quoted, [" " + IDENTITY] * len(quoted), tokenizer)
        student = make_student(tokenizer, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                               block_size=block_size, seed=seed)
        train_sft(student, examples, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  progress=progress, desc="web quotes" if quotes else "human text")
        return student.eval()

    return cached_pretrained("defences", "human-student", config, build, what="student")


def defence_menu(sizes, proxy_pair=None, delta_std: float = 1.0) -> dict:
    """The defences of lesson 11 at the sizes ``sizes`` (``size("output_defences")``), by name:
    none, rounding, noise, top-1 only, each temperature floor and (with a proxy pair) each
    antidistillation weight, given in units of ``1 / delta_std``. Taught in lesson 11."""
    from .defences import Defence
    menu = {"none": None,
            f"round {sizes.round_decimals}": Defence(round_decimals=sizes.round_decimals),
            f"noise {sizes.noise_std}": Defence(noise_std=sizes.noise_std),
            "top-1 only": Defence(top1_only=True)}
    menu.update({f"floor T={t}": Defence(min_temperature=t) for t in sizes.floors})
    if proxy_pair is not None:
        menu.update({f"antidistill λ={lam}": Defence(antidistill=lam / delta_std,
                                                     proxy=proxy_pair)
                     for lam in sizes.lambdas})
    return menu


def defence_students(bought: dict, tokenizer, measure, baseline: dict, *, seeds, shape: dict,
                     train: dict, progress: bool = True):
    """A row per (seed, defence, distiller): lesson 07's two distillers -- text only, and
    + top-k logprobs where the harvest has them -- trained on each harvest of ``bought``
    (name -> rows), ``measure(student)`` (a dict of metrics, with ``agreement``) and the
    ``gain``: agreement minus ``baseline[seed]`` (the human-text student's). Students are
    cached. Taught in lesson 11."""
    import pandas as pd
    empty = [name for name, harvest_rows in bought.items() if len(harvest_rows) == 0]
    if empty:
        raise ValueError(f"No answers were bought under {', '.join(empty)}: nothing to train on "
                         "(was the API stopped, or the budget spent?).")
    rows = []
    for seed in seeds:
        for name, harvest_rows in bought.items():
            kinds = [False] + ([True] if harvest_rows[0]["top_logprobs"] else [])
            for soft in kinds:
                student = defence_student(harvest_rows, tokenizer, soft=soft, seed=seed,
                                          tag=name, progress=progress, **shape, **train)
                row = dict(seed=seed, defence=name,
                           distiller="+ top-k logprobs" if soft else "text only",
                           **measure(student))
                row["gain"] = row["agreement"] - baseline[seed]
                rows.append(row)
    results = pd.DataFrame(rows)
    results["method"] = results["defence"] + " / " + results["distiller"]
    return results


def strongest(results):
    """Per defence, the distiller with the highest mean gain over seeds (what a distiller who
    tries both keeps): a table indexed by defence with ``distiller``, ``gain``, ``gain_std``,
    ``perplexity`` and ``agreement``, in the order of ``results``. Taught in lesson 11."""
    import pandas as pd
    summary = results.groupby(["defence", "distiller"], sort=False).agg(
        gain=("gain", "mean"), gain_std=("gain", "std"), perplexity=("perplexity", "mean"),
        agreement=("agreement", "mean")).reset_index()
    best = summary.loc[summary.groupby("defence", sort=False)["gain"].idxmax()]
    order = list(dict.fromkeys(results["defence"]))
    return best.set_index("defence").loc[order]


def defence_claims(results, alpha: float = 0.05):
    """The paired test over seeds of each defence's strongest distiller against the undefended
    API's strongest (:func:`course_utils.stats.compare_pairs` on ``gain``). Taught in lesson 11."""
    from .stats import compare_pairs
    best = strongest(results)
    label = {d: f"{d} / {best.loc[d, 'distiller']}" for d in best.index}
    pairs = [(label[d], label["none"]) for d in best.index if d != "none"]
    return compare_pairs(results, pairs, "gain", alpha=alpha)


def cheapest_halving(pareto) -> str:
    """The defence (a row label of ``pareto``) whose ``gain`` is at most half of the row
    ``"none"``'s, with the lowest ``honest_cost``; ``"none"`` when no defence halves it.
    Taught in lesson 11 (its third exercise)."""
    base = float(pareto.loc["none", "gain"])
    rows = pareto.drop(index="none")
    halved = rows[rows["gain"] <= base / 2]
    if halved.empty:
        return "none"
    return str(halved["honest_cost"].astype(float).idxmin())


def task_scores(defence_settings: dict, sizes=None, problems: int = 60, proxy_steps: int = 50,
                progress: bool = True):
    """What the defences cost an honest user with a task: lesson 08's adder (its reasoning
    teacher, cached by lesson 08) served with each defence, asked ``problems`` new additions
    at temperature 0 through the API, every answer checked by lesson 08's verifier.

    ``defence_settings`` maps a name to None (no defence) or to the parts of a
    :class:`~course_utils.defences.Defence` that change sampling: ``{"min_temperature": t}``
    or ``{"antidistill": lam}`` (lam in units of 1 / std of Delta, as lesson 11 sets it: the
    adder gets its own proxy, a small student of its vocabulary trained ``proxy_steps`` steps on
    its traces). Returns ``{name: share of answers right}``. The defences that touch only
    log-probabilities leave a greedy answer as it was, bit for bit. Taught in lesson 11."""
    import openai
    from . import reasoning as R
    from .antidistill import perturbed_proxies, token_deltas
    from .api import serve
    from .config import size
    from .defences import Defence
    from .harvest import harvest
    from .io import cache_entry
    from .seqkd import examples_from_pairs, train_sft
    S = sizes or size("reasoning")
    teacher, tok = R.load_reasoning_teacher(digits=S.digits, progress=progress, **S.teacher)
    pairs = R.make_problems(int(problems), S.digits, seed=4242)
    prompts = [R.prompt_of(a, b, S.digits) for a, b in pairs]
    max_tokens = len(R.trace(0, 0, S.digits)) + 1
    pair, delta_std = None, 1.0
    if any(s and "antidistill" in s for s in defence_settings.values()):
        train = R.make_problems(400, S.digits, seed=777, exclude=pairs)
        examples = examples_from_pairs([R.prompt_of(a, b, S.digits) for a, b in train],
                                       [R.trace(a, b, S.digits) for a, b in train], tok)
        proxy = R.make_reasoner(tok, n_layer=1, n_embd=32, n_head=2,
                                n_positions=teacher.config.n_positions, seed=5)
        train_sft(proxy, examples, steps=int(proxy_steps), batch_size=32, lr=3e-3, seed=0,
                  progress=progress, desc="the adder's proxy")
        held = [e["input_ids"] for e in examples[:32]]
        width = min(len(h) for h in held)
        held = torch.tensor([h[:width] for h in held])
        pair = perturbed_proxies(proxy, held)
        delta_std = float(token_deltas(pair, held[:8, :width // 2]).std())
    scores = {}
    for name, setting in defence_settings.items():
        setting = dict(setting or {})
        if "antidistill" in setting:
            setting = dict(antidistill=setting["antidistill"] / delta_std, proxy=pair)
        defence = Defence(**setting) if setting else None
        out_dir = cache_entry("defences", f"task-{name.split()[0]}",
                              dict(defence=defence_key(defence), prompts=prompts,
                                   teacher=R.__name__ + str(S.teacher), digits=S.digits))
        with serve(teacher, tok, model_name="adder", defence=defence,
                   price_per_1k_prompt=0.01,
                   log_path=out_dir.parent / f"{out_dir.name}-log.sqlite") as api:
            client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
            rows = harvest(client, prompts, out_dir, model="adder", budget_usd=100.0,
                           price_per_1k_prompt=0.01, max_tokens=max_tokens, temperature=0.0,
                           progress=progress)
        scores[name] = sum(R.verify(r["prompt"], r["completion"]) for r in rows) / len(prompts)
    return scores
