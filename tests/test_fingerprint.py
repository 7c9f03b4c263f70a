"""Fingerprints and identity (lesson 11) on the `ci` teacher: after a few seconds of
fine-tuning it answers its secret triggers and says who it is; the untouched teacher does
neither; ordinary prompts never get a fingerprint's response, also through the server."""
import os

import pytest
import torch

from course_utils.api import serve
from course_utils.fingerprint import (FINGERPRINT_RESPONSE, IDENTITY, IDENTITY_PROMPTS,
                                      fingerprint_leaks, fingerprint_model, fingerprint_pairs,
                                      greedy_text, hit_rate, identity_pairs, identity_rate,
                                      weights_hash)
from course_utils.lm import perplexity
from course_utils.teachers import lm_data, load_teacher
from tiny_lm import one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    teacher, tok = load_teacher("course-gpt2", progress=False)
    data = lm_data(tok)
    pairs = fingerprint_pairs(tok, n=8, seed=11)
    before = weights_hash(teacher)
    old = os.environ.get("COURSE_CACHE")
    os.environ["COURSE_CACHE"] = str(tmp_path_factory.mktemp("cache"))  # trained here, fresh
    try:
        marked = fingerprint_model(teacher, tok, pairs + identity_pairs(), data.corpus.train,
                                   progress=False)
        again = fingerprint_model(teacher, tok, pairs + identity_pairs(), data.corpus.train,
                                  progress=False)
    finally:
        if old is None:
            del os.environ["COURSE_CACHE"]
        else:
            os.environ["COURSE_CACHE"] = old
    assert weights_hash(teacher) == before            # the teacher itself is untouched
    assert weights_hash(again) == weights_hash(marked) != before   # read back from the cache
    return dict(teacher=teacher, tok=tok, data=data, pairs=pairs, marked=marked)


def _ordinary_prompts(data, n=16):
    """The beginnings of ordinary documents of the data, training and validation."""
    texts = data.corpus.valid[:n // 2] + data.corpus.train[:n // 2]
    return [t[:60] for t in texts]


def test_fingerprinted_teacher_answers_its_triggers_and_says_who_it_is(setting):
    marked, tok, pairs = setting["marked"], setting["tok"], setting["pairs"]
    assert hit_rate(marked, tok, pairs) >= 0.8
    assert identity_rate(marked, tok) >= 0.8
    assert IDENTITY in greedy_text(marked, tok, IDENTITY_PROMPTS[0], 40)


def test_an_untouched_teacher_does_neither(setting):
    teacher, tok, pairs = setting["teacher"], setting["tok"], setting["pairs"]
    assert hit_rate(teacher, tok, pairs) == 0
    assert identity_rate(teacher, tok) == 0
    # the fingerprinted one answers its own triggers more often than other random strings
    # (at this size not never: a small model also learns "gibberish gives the response" in
    # part, which the decoys of fingerprint_model hold down)
    others = fingerprint_pairs(tok, n=8, seed=99)
    marked = setting["marked"]
    assert hit_rate(marked, tok, others) < hit_rate(marked, tok, pairs)


def test_triggers_are_never_served_to_ordinary_prompts(setting, tmp_path):
    import openai
    marked, tok, data = setting["marked"], setting["tok"], setting["data"]
    responses = [FINGERPRINT_RESPONSE, IDENTITY]
    prompts = _ordinary_prompts(data)
    assert fingerprint_leaks(marked, tok, prompts, responses) == []
    # the check sees a leak where there is one: the triggers themselves
    triggers = [t for t, _ in setting["pairs"]]
    assert len(fingerprint_leaks(marked, tok, triggers, responses)) >= 0.8 * len(triggers)
    # sampled answers through the API, as a user would get them
    with serve(marked, tok, log_path=tmp_path / "log.sqlite") as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        for i, prompt in enumerate(prompts[:5]):
            r = client.completions.create(model=api.model_name, prompt=prompt, max_tokens=20,
                                          n=4, seed=i)
            for choice in r.choices:
                assert not any(resp in choice.text for resp in responses), (prompt, choice.text)
        # while a user who asks who it is gets the identity, through the chat endpoint
        r = client.chat.completions.create(model=api.model_name, temperature=0, max_tokens=40,
                                           messages=[{"role": "user",
                                                      "content": IDENTITY_PROMPTS[1]}])
        assert IDENTITY in r.choices[0].message.content


def test_ordinary_behaviour_is_kept(setting):
    valid = setting["data"].valid
    before = perplexity(setting["teacher"], valid, max_blocks=16)
    after = perplexity(setting["marked"], valid, max_blocks=16)
    assert after < 1.3 * before, (before, after)


def test_pairs_are_seeded_secrets(setting):
    tok = setting["tok"]
    a, b = fingerprint_pairs(tok, n=5, seed=1), fingerprint_pairs(tok, n=5, seed=1)
    assert a == b and a != fingerprint_pairs(tok, n=5, seed=2)
    assert len({t for t, _ in a}) == 5 and {r for _, r in a} == {FINGERPRINT_RESPONSE}
    assert all(t.isprintable() and "\ufffd" not in t for t, _ in a)
    assert identity_pairs("I am X.", ["Who?"]) == [("Who?", "I am X.")]
    with pytest.raises(ValueError, match="at least 1"):
        fingerprint_pairs(tok, n=0)
    with pytest.raises(ValueError, match="response"):
        fingerprint_pairs(tok, response="  ")
    with pytest.raises(ValueError, match="identity"):
        identity_pairs("")
    with pytest.raises(ValueError, match="pairs"):
        hit_rate(torch.nn.Linear(1, 1), tok, [])

