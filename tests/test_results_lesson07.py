"""Results of lesson 07 (marked slow): at the `cpu` size the effects must appear.

`make test` runs this at the `ci` size (it then only checks that the pipeline runs and returns
sane numbers); `make test-slow` runs it at the `cpu` size, where it asserts the lesson's claims:
a larger budget buys a better student, and the API's top-k logprobs help.
"""
import math

import openai
import pytest

from course_utils import PROFILE, size
from course_utils.stats import paired_test

pytestmark = pytest.mark.slow


def test_more_budget_gives_a_better_student(tmp_path):
    from course_utils.api import serve
    from course_utils.harvest import harvest, random_snippets, within_budget
    from course_utils.lm import evaluate_lm
    from course_utils.seqkd import sft_examples, train_sft
    from course_utils.teachers import lm_data, load_teacher, make_student
    import torch
    S = size("api_distill")
    teacher, tok = load_teacher("course-gpt2", progress=False)
    data = lm_data(tok)
    valid = torch.stack([torch.as_tensor(x) for x in data.valid[:S.eval_blocks]["input_ids"]])
    valid = valid[:, :S.eval_len]
    lo, hi = min(S.budget_units), max(S.budget_units)
    prompts = random_snippets(data.corpus.train, int(S.base_prompts * hi * 1.5), seed=0)
    with serve(teacher, tok, log_path=tmp_path / "log.sqlite", price_per_1k_prompt=S.price_in,
               price_per_1k_completion=S.price_out) as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        bought = harvest(client, prompts, tmp_path / "h", model=api.model_name,
                         budget_usd=S.unit_usd * hi, price_per_1k_prompt=S.price_in,
                         price_per_1k_completion=S.price_out, max_tokens=S.max_tokens,
                         top_logprobs=S.top_logprobs, progress=False)
    ppl = {lo: [], hi: [], "top-k": []}
    for seed in range(S.seeds):
        for u, w in ((lo, 0.0), (hi, 0.0), ("top-k", S.soft_weight)):
            examples = sft_examples(within_budget(bought, S.unit_usd * (hi if u == "top-k" else u)), tok)
            student = make_student(tok, n_layer=S.n_layer, n_embd=S.n_embd, n_head=S.n_head,
                                   block_size=teacher.config.n_positions, seed=seed)
            train_sft(student, examples, steps=S.epochs * math.ceil(len(examples) / S.batch_size),
                      batch_size=S.batch_size, lr=S.lr, soft_weight=w, seed=seed, progress=False)
            ppl[u].append(evaluate_lm(student, valid)["perplexity"])
    print(f"\n[{PROFILE}] perplexity, text only {lo}x: {ppl[lo]}; {hi}x: {ppl[hi]}; "
          f"+ top-k {hi}x: {ppl['top-k']}")
    assert all(math.isfinite(p) for v in ppl.values() for p in v)
    if PROFILE != "ci":   # lesson 07's claims: the budget curve falls, the top-k logprobs help
        assert len(ppl[hi]) >= 3
        assert sum(ppl[hi]) / len(ppl[hi]) < sum(ppl[lo]) / len(ppl[lo]), ppl
        assert paired_test(ppl["top-k"], ppl[hi])["diff"] < 0, ppl
