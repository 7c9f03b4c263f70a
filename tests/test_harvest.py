"""Bills, retries, budgeted resumable harvests, prompt strategies, sequence-level KD."""
import math

import pytest
import torch

openai = pytest.importorskip("openai")

from course_utils import harvest as H
from course_utils import seqkd
from course_utils.api import TeacherAPI, serve
from course_utils.lm import evaluate_lm, perplexity
from tiny_lm import one_thread, tiny_model, tiny_tokenizer


_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def teacher():
    return tiny_model()


def test_bill():
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    assert H.bill(usage, 0.002) == pytest.approx(0.003)
    assert H.bill(usage, 0.001, 0.004) == pytest.approx(0.001 + 0.002)


class FakeResponse:
    def __init__(self, headers):
        self.headers = headers
        self.status_code = 429
        self.request = None


def rate_error(headers):
    import httpx
    request = httpx.Request("POST", "http://x/v1/chat/completions")
    response = httpx.Response(429, headers=headers, request=request)
    return openai.RateLimitError("slow down", response=response, body=None)


def test_call_with_retry_waits_what_the_server_says():
    calls, waits = [], []

    def create(**kw):
        calls.append(kw)
        if len(calls) < 3:
            raise rate_error({"retry-after": "2"} if len(calls) == 1 else {})
        return "ok"

    assert H.call_with_retry(create, sleep=waits.append, base_delay=0.25, x=1) == "ok"
    assert waits == [2.0, 0.5] and calls[0] == {"x": 1}
    with pytest.raises(openai.RateLimitError):
        H.call_with_retry(lambda: (_ for _ in ()).throw(rate_error({})), max_retries=2,
                          sleep=lambda s: None)


def test_harvest_budget_resume_and_rate_limits(teacher, tmp_path):
    model, tok = teacher
    prompts = H.random_snippets(["one two three four five six seven eight nine ten " * 20],
                                30, seed=1)
    with TeacherAPI(model, tok, log_path=tmp_path / "log.sqlite", rpm=1, window_s=1.0,
                    price_per_1k=0.2) as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        kw = dict(model=api.model_name, price_per_1k_prompt=0.2, max_tokens=8, top_logprobs=5,
                  save_every=4, progress=False)
        # use up the key's one request per second, so that the harvest meets a 429 at once
        client.chat.completions.create(model=api.model_name, max_tokens=1,
                                       messages=[{"role": "user", "content": "x"}])
        first = H.harvest(client, prompts, tmp_path / "h", budget_usd=0.02, **kw)
        spent = sum(first["cost_usd"])
        assert 0.02 <= spent < 0.02 + 0.006     # over by at most one request
        # more money: resumes, never buys a prompt twice
        second = H.harvest(client, prompts, tmp_path / "h", budget_usd=0.04, **kw)
        assert len(second) > len(first)
        assert len(set(second["prompt_id"])) == len(second)
        assert second["prompt_id"][:len(first)] == first["prompt_id"]
        row = second[0]
        assert len(row["top_hex"]) == len(row["token_hex"]) and len(row["top_hex"][0]) == 5
        # the server's log and the harvest agree on what was bought (429s were retried)
        from course_utils.api import read_log
        log = read_log(api.log_path)
        ok = log[log.status == 200]
        assert len(ok) == len(second) + 1
        assert sum(second["cost_usd"]) == pytest.approx(ok.cost_usd[1:].sum())
        assert (log.status == 429).any(), "the harvest should have met a 429"
        with pytest.raises(ValueError, match="other settings"):
            H.harvest(client, prompts, tmp_path / "h", budget_usd=1, **dict(kw, max_tokens=9))
    part = H.within_budget(second, 0.02)
    assert sum(part["cost_usd"]) <= 0.02 and len(part) < len(second)
    assert not list((tmp_path / "h").glob("*.tmp"))


def test_prompt_strategies(teacher):
    import pydoc_data.topics as topics
    texts = list(topics.topics.values())[:60]
    r = H.random_snippets(texts, 20, seed=0)
    assert len(r) == 20 and r == H.random_snippets(texts, 20, seed=0)
    assert all(3 <= len(s.split()) <= 8 for s in r)
    d = H.diverse_snippets(texts, 20, seed=0)
    assert len(d) == 20 and len(set(d)) == 20
    model, tok = teacher
    s = H.self_instruct_prompts(model, tok, r[:5], 6, max_new_tokens=24, seed=0, batch_size=8)
    assert 1 <= len(s) <= 6 and len(set(s)) == len(s)
    with pytest.raises(ValueError):
        H.random_snippets(["   "], 3)


def test_soft_targets_sit_at_the_positions_that_predict_them():
    ex = {"input_ids": [5, 6, 7, 8, 9], "labels": [-100, -100, 7, 8, 9],
          "soft": (2, [[7, 1], [8, 2], [9, 3]], [[-0.1, -2.0], [-0.2, -3.0], [-0.3, -4.0]])}
    ids, labels, attn, s_ids, s_lp, s_mask = seqkd._collate([ex], 0, 2)
    # position 1 outputs the prediction of token 2 (id 7), and so on
    assert s_mask[0].tolist() == [False, True, True, True, False]
    assert s_ids[0, 1].tolist() == [7, 1] and s_ids[0, 3].tolist() == [9, 3]
    assert torch.allclose(s_lp[0, 2], torch.tensor([-0.2, -3.0]))
    assert (s_ids[0, 1:4, 0] == labels[0, 2:5]).all()


def test_sequence_kd_learns_the_teachers_answers(teacher, tmp_path):
    """A student fine-tuned on greedy teacher completions reproduces them better."""
    model, tok = teacher
    import pydoc_data.topics as topics
    prompts = H.random_snippets(list(topics.topics.values())[:30], 12, seed=2)
    with serve(model, tok, log_path=tmp_path / "l.sqlite") as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        data = H.harvest(client, prompts, tmp_path / "h", model=api.model_name, budget_usd=10,
                         price_per_1k_prompt=0.01, max_tokens=6, temperature=0, top_logprobs=5,
                         progress=False)
    examples = seqkd.sft_examples(data, tok)
    assert all("soft" in e for e in examples)
    # exact token ids: the labels are the teacher's sampled tokens
    ex = examples[0]
    n_prompt = sum(l == -100 for l in ex["labels"])
    assert tok.decode(ex["input_ids"][n_prompt:]).startswith(data[0]["completion"])
    student, _ = tiny_model(seed=5, peaked=False)
    before = _match(student, examples)
    seqkd.train_sft(student, examples, steps=40, batch_size=6, lr=3e-3, soft_weight=0.5,
                    progress=False)
    after = _match(student, examples)
    assert after > before + 0.3, (before, after)
    assert seqkd.count_tokens(examples) == sum(len(e["input_ids"]) - sum(
        l == -100 for l in e["labels"]) for e in examples)


def _match(model, examples):
    hits = total = 0
    with torch.no_grad():
        for e in examples:
            ids = torch.tensor([e["input_ids"]])
            pred = model(input_ids=ids).logits[0, :-1].argmax(-1)
            lab = torch.tensor(e["labels"][1:])
            m = lab != -100
            hits += int((pred[m] == lab[m]).sum())
            total += int(m.sum())
    return hits / total


def test_lm_examples_and_eval(teacher):
    model, tok = teacher
    import pydoc_data.topics as topics
    ex = seqkd.lm_examples(list(topics.topics.values())[:20], tok, n_tokens=500, block=32)
    assert seqkd.count_tokens(ex) == 500
    blocks = torch.tensor([e["input_ids"] for e in ex if len(e["input_ids"]) == 32][:4])
    ppl = perplexity(model, blocks)
    assert math.isfinite(ppl) and ppl > 1
    assert evaluate_lm(model, blocks, teacher=model)["agreement"] == 1.0
