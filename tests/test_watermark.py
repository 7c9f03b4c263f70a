"""The green-list watermark (lesson 10): agreement with transformers, the server option, the
radioactivity scores' validity on clean models."""
import json

import numpy as np
import pytest
import torch

from course_utils.api import generation, serve
from course_utils.watermark import (Watermark, colour_html, dedup_score, delete_tokens,
                                    green_mass_by_prev, hf_detector, naive_score,
                                    open_weights_scores, paraphrase, random_green_matrices,
                                    score_ids, substitute_tokens, unique_pairs,
                                    watermarked_generate, z_score)
from tiny_lm import one_thread, tiny_model

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)
KEY = 987_654_321


@pytest.fixture(scope="module")
def teacher():
    return tiny_model()


@pytest.fixture(scope="module")
def wm(teacher):
    model, _ = teacher
    return Watermark(model.config.vocab_size, key=KEY, gamma=0.25, delta=4.0)


def _prompts(n, length=4, seed=0, vocab=300):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab, (n, length), generator=g)


def test_green_lists_are_transformers_lefthash(wm):
    from transformers.generation.logits_process import WatermarkLogitsProcessor
    proc = WatermarkLogitsProcessor(vocab_size=wm.vocab_size, device="cpu", greenlist_ratio=0.25,
                                    bias=4.0, hashing_key=KEY, seeding_scheme="lefthash")
    for prev in [1, 7, 123, wm.vocab_size - 1]:
        theirs = set(proc._get_greenlist_ids(torch.tensor([5, prev])).tolist())
        assert theirs == set(wm.green_ids(prev).tolist())
        assert wm.green_matrix()[prev].sum() == int(wm.vocab_size * 0.25)


def test_processor_adds_delta_to_the_green_list_only(wm):
    scores = torch.randn(3, wm.vocab_size)
    ids = torch.tensor([[4, 9], [1, 2], [8, 250]])
    out = wm.processor()(ids, scores)
    diff = out - scores
    for r in range(3):
        green = wm.green_matrix()[ids[r, -1]]
        assert torch.allclose(diff[r][green], torch.full((int(green.sum()),), 4.0))
        assert torch.all(diff[r][~green] == 0)
    assert torch.equal(scores, scores.clone())   # not changed in place


def test_our_detector_agrees_with_transformers(teacher, wm):
    """Same z to 1e-6 on the same text and key, counting repeats and counting each once."""
    model, _ = teacher
    texts = watermarked_generate(model, _prompts(6), wm, max_new_tokens=40, seed=1)
    clean = watermarked_generate(model, _prompts(6), None, max_new_tokens=40, seed=1)
    for ignore in (False, True):
        det = hf_detector(model.config, wm, ignore_repeated=ignore)
        for ids in texts + clean:
            ids = [t for t in ids if t != 0][:40]
            if len(ids) < 3:
                continue
            ours = score_ids(ids, wm, ignore_repeated=ignore)
            theirs = det(torch.tensor([ids]), return_dict=True)
            assert abs(ours["z"] - float(theirs.z_score[0])) < 1e-6
            assert ours["n"] == int(theirs.num_tokens_scored[0])


def test_watermarked_text_is_detected_and_clean_is_not(teacher, wm):
    model, _ = teacher
    marked = watermarked_generate(model, _prompts(8, seed=3), wm, max_new_tokens=60, seed=2)
    clean = watermarked_generate(model, _prompts(8, seed=3), None, max_new_tokens=60, seed=2)
    zm = [score_ids(t, wm)["z"] for t in marked]
    zc = [score_ids(t, wm)["z"] for t in clean]
    assert np.mean(zm) > 4 and max(zc) < 4
    # the edits lower it
    assert np.mean([score_ids(delete_tokens(t, 0.5, seed=1), wm)["z"] for t in marked]) < np.mean(zm)
    sub = [score_ids(substitute_tokens(t, 0.5, model, seed=1), wm)["z"] for t in marked]
    assert np.mean(sub) < np.mean(zm)
    para = paraphrase(marked, model, keep_bonus=0.0, seed=0)
    assert [len(p) for p in para] == [len(t) for t in marked]
    assert np.mean([score_ids(p, wm)["z"] for p in para]) < np.mean(zm) - 2


def test_z_score_and_html(teacher, wm):
    assert z_score(25, 100, 0.25) == 0.0
    assert z_score(40, 100, 0.25) == pytest.approx(15 / np.sqrt(18.75))
    _, tok = teacher
    html = colour_html(tok, [5, 6, 7, 8], wm)
    assert html.count("<span") == 4 and "z =" in html


def test_bad_settings_get_clear_messages():
    with pytest.raises(ValueError, match="gamma"):
        Watermark(100, gamma=1.5)
    with pytest.raises(ValueError, match="key"):
        Watermark(100, key="secret")


def _gen(model, tok, watermark, **kw):
    return generation.generate(model, tok, [5, 6, 7], max_tokens=20, temperature=1.0, top_p=0.9,
                               n=3, top_k_logprobs=3, stop=[], seed=11, context_length=128,
                               **({"watermark": watermark} if watermark != "absent" else {}), **kw)


def test_watermark_off_is_bitwise_the_old_outputs(teacher):
    model, tok = teacher
    old = _gen(model, tok, "absent")
    assert _gen(model, tok, None) == old
    assert _gen(model, tok, Watermark(model.config.vocab_size, key=5, delta=0.0)) == old
    assert _gen(model, tok, Watermark(model.config.vocab_size, key=5, delta=4.0)) != old


def test_server_watermarks_and_never_returns_the_key(teacher, tmp_path):
    import openai
    from course_utils.tokenizer import bytes_to_id
    model, tok = teacher
    lookup = bytes_to_id(tok)
    wm = Watermark(model.config.vocab_size, key=KEY, delta=4.0)
    with serve(model, tok, log_path=tmp_path / "w.sqlite", watermark=wm) as api, \
            serve(model, tok, log_path=tmp_path / "c.sqlite") as plain:
        assert api.watermarked and not plain.watermarked and str(KEY) not in repr(api)
        zs = {}
        for name, server in [("marked", api), ("clean", plain)]:
            client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
            r = client.chat.completions.create(
                model=server.model_name, max_tokens=60, n=4, seed=3, logprobs=True, top_logprobs=2,
                messages=[{"role": "user", "content": "The for statement"}])
            raw = json.dumps(r.model_dump()) + json.dumps(dict(r.model_extra or {}))
            assert str(KEY) not in raw and "watermark" not in raw.lower()
            ids = [[lookup[bytes(t.bytes)] for t in c.logprobs.content] for c in r.choices]
            zs[name] = np.mean([score_ids(i, wm)["z"] for i in ids])
        assert zs["marked"] > 3 > zs["clean"]
        models = client.models.list()
        assert str(KEY) not in json.dumps(models.model_dump())
    log = (tmp_path / "w.sqlite").read_bytes()
    assert str(KEY).encode() not in log


def test_dedup_score_of_a_clean_model_on_watermarked_prompts_is_not_significant(teacher):
    """The clean model continues prompts that carry the watermark: the naive score (prompts in,
    repeats in) calls it radioactive, the valid one does not."""
    model, _ = teacher
    wm = Watermark(model.config.vocab_size, key=KEY, delta=6.0)
    prompts = watermarked_generate(model, _prompts(24, seed=5), wm, max_new_tokens=30, seed=4)
    prompts = [p for p in prompts if len(p) > 5]
    samples = watermarked_generate(model, torch.tensor([p[:6] for p in prompts]), None,
                                   max_new_tokens=30, seed=9)
    heads = [p[:6] for p in prompts]
    assert naive_score(samples, wm, heads)["z"] > 3
    valid = dedup_score(samples, wm, heads)
    assert valid["p"] > 0.01
    assert len(unique_pairs(samples, heads)) == valid["n"]
    # calibrated over other keys: p < 0.01 no more often than chance allows (5 of 60 is p<0.003)
    ps = [dedup_score(samples, wm.with_key(k), heads)["p"] for k in range(1000, 1060)]
    assert sum(p < 0.01 for p in ps) <= 4


def test_open_weights_score_finds_a_model_pushed_to_green(teacher):
    model, tok = teacher
    V = model.config.vocab_size
    wm = Watermark(V, key=KEY, delta=2.0)
    texts = [t for t in watermarked_generate(model, _prompts(16, seed=8), None,
                                             max_new_tokens=30, seed=1) if len(t) > 3]
    ref = green_mass_by_prev(model, texts, V)
    # a "student" whose distribution is the teacher's with a little green bias
    pushed = ref.clone()
    pushed += 0.02 * wm.green_matrix().double() * ref.sum(1, keepdim=True) / V
    other = tiny_model(seed=1)[0]
    out = open_weights_scores({"pushed": pushed, "clean": green_mass_by_prev(other, texts, V)},
                              ref, wm.green_matrix(), random_green_matrices(60, V, 0.25))
    assert out["pushed"]["z"] > 5 and out["pushed"]["p"] < 1e-5
    assert abs(out["clean"]["z"]) < 3.5


def test_logprobs_without_alternatives_list_every_token(teacher, tmp_path):
    """`logprobs=True` without `top_logprobs` still gives each token (and its bytes): the
    harvester reads the exact token ids from them."""
    import openai
    model, tok = teacher
    with serve(model, tok, log_path=tmp_path / "l.sqlite") as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        r = client.chat.completions.create(model=api.model_name, max_tokens=12, seed=1,
                                           logprobs=True,
                                           messages=[{"role": "user", "content": "The"}])
    content = r.choices[0].logprobs.content
    assert 1 <= len(content) <= 12
    assert content and all(c.bytes is not None and c.top_logprobs == [] for c in content)
