"""Results test of lesson 11: students distilled through the API say the teacher's name, the
defences lower what a distiller gets, and each one costs honest users something.

Marked slow, it runs at the current profile's size: `ci` in `make test` (where only what holds
at any size is asserted: the fingerprinted teacher answers its triggers, defences that touch only
log-probabilities leave the text-only student as it was, every defence has a cost), `cpu` in
`make test-slow` (the effects the lesson's prose claims). It shares the lesson's cache (the
fingerprinted teacher, the harvests, the students).
"""
import numpy as np
import pytest
import torch
from scipy.stats import fisher_exact

from course_utils.antidistill import perturbed_proxies, token_deltas
from course_utils.config import PROFILE, size
from course_utils.defence_study import (answer_costs, defence_claims, defence_menu,
                                        defence_student, defence_students, defended_harvest,
                                        distiller_prompts, human_student, strongest)
from course_utils.fingerprint import IDENTITY_PROMPTS, course_provider, hit_rate, identity_rate
from course_utils.lm import evaluate_lm, teacher_top1
from course_utils.seqkd import lm_examples, train_sft
from course_utils.teachers import lm_data, load_teacher, make_student


@pytest.fixture(scope="module")
def setting():
    teacher, tok = load_teacher("course-gpt2", profile=PROFILE, progress=False)
    data = lm_data(tok, profile=PROFILE)
    F, D = size("fingerprints"), size("output_defences")
    provider, secret = course_provider(teacher, tok, data.corpus.train, progress=False)
    prompts = distiller_prompts(data.corpus.train, D.distiller_prompts,
                            identity_repeats=D.identity_repeats)
    none = defended_harvest(provider, tok, None, prompts, name="none", max_tokens=D.max_tokens,
                            top_logprobs=D.top_logprobs, progress=False)
    valid = torch.stack([torch.as_tensor(x) for x in data.valid[:F.eval_blocks]["input_ids"]])
    shape = dict(n_layer=D.n_layer, n_embd=D.n_embd, n_head=D.n_head,
                 block_size=teacher.config.n_positions)
    train = dict(steps=D.steps, batch_size=D.batch_size, lr=D.lr, soft_weight=D.soft_weight)
    human = {seed: human_student(data.corpus.train, tok,
                                 n_tokens=sum(none["completion_tokens"]), block=D.eval_len,
                                 seed=seed, progress=False, **shape, **train)
             for seed in range(D.seeds)}
    return dict(tok=tok, data=data, D=D, secret=secret, provider=provider, prompts=prompts,
                none=none, valid=valid, shape=shape, train=train, human=human)


@pytest.mark.slow
def test_api_students_say_the_teachers_name(setting):
    s = setting
    tok, D = s["tok"], s["D"]
    assert hit_rate(s["provider"], tok, s["secret"]) >= 0.875
    assert identity_rate(s["provider"], tok) >= 0.8
    said = {"API": 0, "human text": 0}
    for seed in range(D.seeds):
        api = defence_student(s["none"], tok, soft=False, seed=seed, progress=False,
                              **s["shape"], **s["train"])
        assert hit_rate(api, tok, s["secret"]) == 0      # the distiller never asked the triggers
        said["API"] += round(identity_rate(api, tok) * len(IDENTITY_PROMPTS))
        said["human text"] += round(identity_rate(s["human"][seed], tok) * len(IDENTITY_PROMPTS))
    n = len(IDENTITY_PROMPTS) * D.seeds
    p = fisher_exact([[said["API"], n - said["API"]],
                      [said["human text"], n - said["human text"]]], alternative="greater")[1]
    print(f"[{PROFILE}] the name said by API students {said['API']}/{n}, human-text students "
          f"{said['human text']}/{n}: Fisher p = {p:.2g}")
    assert said["human text"] == 0
    if PROFILE == "cpu":
        assert D.seeds >= 3 and p < 0.05


@pytest.mark.slow
def test_defences_lower_the_gain_and_cost_honest_users(setting):
    s = setting
    tok, D, provider, valid = s["tok"], s["D"], s["provider"], s["valid"]
    proxy = make_student(tok, seed=123, **s["shape"])
    train_sft(proxy, lm_examples(s["data"].corpus.train, tok, 64 * D.batch_size * D.proxy_steps,
                                 block=64, seed=7), steps=D.proxy_steps,
              batch_size=D.batch_size, lr=D.lr, seed=0, progress=False)
    pair = perturbed_proxies(proxy, valid[:16, :D.eval_len])
    delta_std = float(token_deltas(pair, valid[:8, :16]).std())
    menu = defence_menu(D, pair, delta_std)
    if PROFILE == "cpu":
        # CI's time: the claim needs two defences; the three whose effect is largest in the
        # lesson (that rounding and noise leave the text as it was is
        # tests/test_defence_study.py's, in `make test`)
        keep = ["none", "top-1 only", f"floor T={max(D.floors)}",
                f"antidistill λ={max(D.lambdas)}"]
        menu = {name: menu[name] for name in keep}
    bought = {name: s["none"] if defence is None else
              defended_harvest(provider, tok, defence, s["prompts"], name=name.split()[0],
                               max_tokens=D.max_tokens, top_logprobs=D.top_logprobs,
                               progress=False)
              for name, defence in menu.items()}
    costs = {name: answer_costs(provider, tok, rows, menu[name]) for name, rows in bought.items()}
    base = costs["none"]["answer_ppl"]
    for name, c in costs.items():
        print(f"[{PROFILE}] {name:18} KL {c['sampling_kl']:.4f}  answer perplexity "
              f"{c['answer_ppl']:8.2f}  log-prob error {c['logprob_error']:.4f}")
        if name == "none":
            assert c["logprob_error"] < 1e-4 and c["sampling_kl"] == 0
        elif name.startswith(("round", "noise")):
            assert c["logprob_error"] > 0 and c["answer_ppl"] == pytest.approx(base)
            assert c["sampling_kl"] == 0
        elif name == "top-1 only":
            assert np.isnan(c["logprob_error"]) and c["answer_ppl"] == pytest.approx(base)
        else:                                        # floors and antidistillation: the text
            assert c["sampling_kl"] > 0 and c["logprob_error"] < 1e-4

    eval_blocks = valid[:D.eval_blocks, :D.eval_len]

    provider_top1 = teacher_top1(provider, eval_blocks)   # the provider's answers, computed once

    def measure(student):
        out = evaluate_lm(student, eval_blocks, teacher_top1=provider_top1)
        return {"perplexity": out["perplexity"], "agreement": out["agreement"]}

    baseline = {seed: measure(s["human"][seed])["agreement"] for seed in range(D.seeds)}
    results = defence_students(bought, tok, measure, baseline, seeds=range(D.seeds),
                               shape=s["shape"], train=s["train"], progress=False)
    text = results[results.distiller == "text only"].set_index(["seed", "defence"])["gain"]
    for seed in range(D.seeds):                  # the text-only distiller walks past these
        for name in bought:
            if name.startswith(("round", "noise")):
                assert text[(seed, name)] == text[(seed, "none")]
    claims = defence_claims(results)
    print(strongest(results).round(4).to_string())
    print(claims.round(4).to_string())
    lowered = claims[(claims["a − b"] < 0) & (claims["p"] < 0.05)]
    if PROFILE == "cpu":
        assert len(lowered) >= 2, "fewer than two defences lower the gain significantly"
