"""Both sides of each output defence (lesson 11), on a tiny model through the real server:
harvests are cached, defences that touch only log-probabilities leave the text bit for bit,
the honest users' cost says what changed, and students trained on different log-probabilities
are different students (their cache keys hold the log-probabilities)."""
import math
import os

import pytest

pytest.importorskip("openai")

from course_utils.defence_study import (answer_costs, defence_student, defended_harvest,
                                        distiller_prompts)
from course_utils.defences import Defence
from course_utils.fingerprint import IDENTITY_PROMPTS, weights_hash
from tiny_lm import _text, one_thread, tiny_model

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    model, tok = tiny_model()
    old = os.environ.get("COURSE_CACHE")
    os.environ["COURSE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        prompts = distiller_prompts([_text()], 6, identity_repeats=1, seed=3)
        bought = {name: defended_harvest(model, tok, d, prompts, name=name, max_tokens=8,
                                         top_logprobs=3, progress=False)
                  for name, d in [("none", None), ("round", Defence(round_decimals=0)),
                                  ("noise", Defence(noise_std=1.0)),
                                  ("top1", Defence(top1_only=True)),
                                  ("floor", Defence(min_temperature=1.8))]}
        yield model, tok, prompts, bought
    finally:
        if old is None:
            del os.environ["COURSE_CACHE"]
        else:
            os.environ["COURSE_CACHE"] = old


def test_distiller_prompts_are_seeded_and_ask_who_the_model_is():
    a = distiller_prompts([_text()], 10, identity_repeats=2, seed=1)
    assert a == distiller_prompts([_text()], 10, identity_repeats=2, seed=1)
    assert a != distiller_prompts([_text()], 10, identity_repeats=2, seed=2)
    assert len(a) == 10 + 2 * len(IDENTITY_PROMPTS)
    assert sum(p in IDENTITY_PROMPTS for p in a) == 2 * len(IDENTITY_PROMPTS)
    with pytest.raises(ValueError, match="must be >= 0"):
        distiller_prompts([_text()], -1)


def test_probability_defences_leave_the_text_and_change_the_numbers(setting):
    _, _, prompts, bought = setting
    text = [r["completion"] for r in bought["none"]]
    assert len(text) == len(prompts)
    for name in ["round", "noise", "top1"]:
        assert [r["completion"] for r in bought[name]] == text, name
    assert [r["token_logprobs"] for r in bought["round"]] != \
        [r["token_logprobs"] for r in bought["none"]]
    assert all(float(x).is_integer() for r in bought["round"] for x in r["token_logprobs"])
    assert all(not r["token_logprobs"] and not r["top_logprobs"] for r in bought["top1"])
    assert [r["completion"] for r in bought["floor"]] != text


def test_a_harvest_is_bought_once(setting):
    model, tok, prompts, bought = setting
    again = defended_harvest(model, tok, Defence(noise_std=1.0), prompts, name="noise",
                             max_tokens=8, top_logprobs=3, progress=False)
    assert list(again) == list(bought["noise"])


def test_honest_cost_says_what_each_defence_changed(setting):
    model, tok, _, bought = setting
    defences = {"none": None, "round": Defence(round_decimals=0), "noise": Defence(noise_std=1.0),
                "top1": Defence(top1_only=True), "floor": Defence(min_temperature=1.8)}
    costs = {name: answer_costs(model, tok, rows, defences[name]) for name, rows in bought.items()}
    assert costs["none"]["logprob_error"] < 1e-5          # the model's own numbers
    for name in ["none", "round", "noise", "top1"]:       # sampling untouched
        assert costs[name]["sampling_kl"] == 0
    assert costs["floor"]["sampling_kl"] > 0.05
    assert 0 < costs["round"]["logprob_error"] <= 0.5 + 1e-6
    assert costs["noise"]["logprob_error"] > 0.3
    assert math.isnan(costs["top1"]["logprob_error"])
    for name in ["round", "noise", "top1"]:                # same text, same text cost
        assert costs[name]["answer_ppl"] == pytest.approx(costs["none"]["answer_ppl"])
    assert costs["floor"]["answer_ppl"] > costs["none"]["answer_ppl"]


def test_students_on_other_logprobs_are_other_students(setting):
    _, tok, _, bought = setting
    kw = dict(n_layer=1, n_embd=16, n_head=2, block_size=64, steps=3, batch_size=4, lr=3e-3,
              soft_weight=0.5, seed=0, progress=False)
    soft_none = defence_student(bought["none"], tok, soft=True, **kw)
    soft_noise = defence_student(bought["noise"], tok, soft=True, **kw)
    text_none = defence_student(bought["none"], tok, soft=False, **kw)
    text_noise = defence_student(bought["noise"], tok, soft=False, **kw)
    assert weights_hash(soft_none) != weights_hash(soft_noise)
    assert weights_hash(text_none) == weights_hash(text_noise)    # same text: same student
    assert weights_hash(text_none) != weights_hash(soft_none)


def test_the_sampling_kl_is_the_divergence_of_the_served_distribution(setting):
    """Recomputed by hand for one answer under the temperature floor: KL(softmax(l / 1.8) ||
    softmax(l)) at every position that predicts an answer token, averaged."""
    import torch
    from course_utils.api.generation import prompt_ids
    from course_utils.radioactivity import completion_ids
    model, tok, _, bought = setting
    rows = [r for r in bought["floor"] if r["completion"]][:1]
    head, text = prompt_ids(tok, rows[0]["prompt"]), completion_ids(rows, tok)[0]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([head + text])).logits[0].double()
    logits = logits[len(head) - 1:-1]
    served = torch.log_softmax(logits / 1.8, -1)
    own = torch.log_softmax(logits, -1)
    by_hand = float((served.exp() * (served - own)).sum(-1).mean())
    cost = answer_costs(model, tok, rows, Defence(min_temperature=1.8))
    assert cost["sampling_kl"] == pytest.approx(by_hand, rel=1e-9)
    assert answer_costs(model, tok, rows, Defence(min_temperature=0.5))["sampling_kl"] == 0
