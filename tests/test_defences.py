"""Output defences of the teacher API (lesson 11), through the real server and `openai` client:
off by default and bitwise-neutral when off; each defence does what it says; none shows in a
response beyond its effect."""
import json

import numpy as np
import pytest
import torch

openai = pytest.importorskip("openai")

from course_utils.antidistill import antidistill_generate, perturbed_proxies
from course_utils.api import TeacherAPI, read_log, serve
from course_utils.cli import main
from course_utils.defences import Defence, noisy_logprobs, round_logprobs
from course_utils.tokenizer import bytes_to_id
from tiny_lm import one_thread, tiny_model

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)
PROMPT = "The for statement is used"


@pytest.fixture(scope="module")
def teacher():
    return tiny_model()


@pytest.fixture(scope="module")
def pair(teacher):
    _, tok = teacher
    proxy = tiny_model(seed=3, peaked=False)[0]
    held_out = torch.randint(1, len(tok), (4, 16), generator=torch.Generator().manual_seed(0))
    return perturbed_proxies(proxy, held_out, epsilon=1e-2)


def _client(api):
    return openai.OpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0, timeout=60)


def _chat(api, **kw):
    args = dict(model=api.model_name, max_tokens=10, n=3, seed=5, logprobs=True, top_logprobs=5,
                messages=[{"role": "user", "content": PROMPT}])
    args.update(kw)
    args = {k: v for k, v in args.items() if v is not None}   # None: leave the field out
    return _client(api).chat.completions.create(**args)


def _answer(response) -> list:
    """What a response says, without its id and time."""
    d = response.model_dump()
    return [d["choices"], d["usage"], d["model"], d["system_fingerprint"], d["object"]]


def _servers(teacher, tmp_path, **defended):
    model, tok = teacher
    return (serve(model, tok, log_path=tmp_path / "plain.sqlite"),
            serve(model, tok, log_path=tmp_path / "defended.sqlite", **defended))


def _ids(response, tok):
    lookup = bytes_to_id(tok)
    return [[lookup[bytes(t.bytes)] for t in c.logprobs.content] for c in response.choices]


def test_off_by_default_and_bitwise_neutral_when_off(teacher, tmp_path, pair):
    plain, off = _servers(teacher, tmp_path, defence=Defence())
    zero = serve(*teacher, log_path=tmp_path / "zero.sqlite",
                 defence=Defence(noise_std=0.0, min_temperature=0.0, antidistill=0.0, proxy=pair))
    with plain, off, zero:
        assert not Defence().active and not off.defended and not plain.defended
        for kw in [{}, dict(temperature=0.7, top_p=0.9), dict(temperature=0)]:
            want = _answer(_chat(plain, **kw))
            assert _answer(_chat(off, **kw)) == want
            assert _answer(_chat(zero, **kw)) == want
        c = dict(model=plain.model_name, prompt=[PROMPT, "Class"], max_tokens=8, seed=2,
                 logprobs=3)
        want = _client(plain).completions.create(**c).model_dump()["choices"]
        assert _client(off).completions.create(**c).model_dump()["choices"] == want


def test_rounding_rounds_every_returned_logprob_and_changes_nothing_else(teacher, tmp_path):
    plain, rounded = _servers(teacher, tmp_path, defence=Defence(round_decimals=1))
    with plain, rounded:
        a, b = _chat(plain), _chat(rounded)
    for ca, cb in zip(a.choices, b.choices):
        assert ca.message.content == cb.message.content      # the same tokens were sampled
        for ta, tb in zip(ca.logprobs.content, cb.logprobs.content):
            assert tb.logprob == round(ta.logprob, 1)
            assert [x.logprob for x in tb.top_logprobs] == \
                [round(x.logprob, 1) for x in ta.top_logprobs]
            assert [x.token for x in tb.top_logprobs] == [x.token for x in ta.top_logprobs]
    values = [t.logprob for c in a.choices for t in c.logprobs.content]
    assert any(v != round(v, 1) for v in values)              # so rounding did something


def test_noise_perturbs_logprobs_with_the_asked_spread(teacher, tmp_path):
    _, tok = teacher
    plain, noisy = _servers(teacher, tmp_path, defence=Defence(noise_std=0.5))
    with plain, noisy:
        a = _chat(plain, max_tokens=20, top_logprobs=20)
        b = _chat(noisy, max_tokens=20, top_logprobs=20)
        again = _chat(noisy, max_tokens=20, top_logprobs=20)
    assert _answer(again) == _answer(b)                      # a seeded request: the same noise
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]
    diffs = []
    for ca, cb in zip(a.choices, b.choices):
        for ta, tb in zip(ca.logprobs.content, cb.logprobs.content):
            clean = {bytes(x.bytes): x.logprob for x in ta.top_logprobs}
            noisy_top = {bytes(x.bytes): x.logprob for x in tb.top_logprobs}
            assert set(noisy_top) == set(clean) and max(noisy_top.values()) <= 0
            values = [x.logprob for x in tb.top_logprobs]
            assert values == sorted(values, reverse=True)
            if bytes(tb.bytes) in noisy_top:                   # one token, one noisy value
                assert tb.logprob == noisy_top[bytes(tb.bytes)]
            diffs += [noisy_top[t] - v for t, v in clean.items() if v < -3]
    diffs = np.array(diffs)
    assert len(diffs) > 200 and abs(diffs.mean()) < 0.1 and 0.4 < diffs.std() < 0.6


def test_top1_only_refuses_logprobs_with_an_openai_error(teacher, tmp_path):
    plain, top1 = _servers(teacher, tmp_path, defence=Defence(top1_only=True))
    with plain, top1:
        with pytest.raises(openai.BadRequestError) as info:
            _chat(top1)
        error = info.value.body
        assert info.value.status_code == 400
        assert error["param"] == "logprobs" and error["code"] == "unsupported_parameter"
        assert "not supported" in error["message"]
        with pytest.raises(openai.BadRequestError):
            _client(top1).completions.create(model=top1.model_name, prompt=PROMPT, logprobs=2)
        # without log-probabilities it answers, exactly as the plain server
        a = _chat(plain, logprobs=None, top_logprobs=None)
        b = _chat(top1, logprobs=None, top_logprobs=None)
        assert _answer(a) == _answer(b)
    log = read_log(tmp_path / "defended.sqlite")
    assert list(log.status) == [400, 400, 200]


def test_temperature_floor_samples_greedy_requests(teacher, tmp_path):
    plain, floor = _servers(teacher, tmp_path, defence=Defence(min_temperature=1.2))
    with plain, floor:
        greedy = _chat(plain, temperature=0, n=4, max_tokens=20)
        floored = _chat(floor, temperature=0, n=4, max_tokens=20)
        at_floor = _chat(plain, temperature=1.2, n=4, max_tokens=20)
        # above the floor nothing changes
        assert _answer(_chat(floor, temperature=1.5)) == _answer(_chat(plain, temperature=1.5))
    assert len({c.message.content for c in greedy.choices}) == 1
    assert _answer(floored) == _answer(at_floor)
    assert len({c.message.content for c in floored.choices}) > 1
    # the returned log-probabilities stay the model's own (temperature 1)
    assert [c.logprobs for c in floored.choices] == [c.logprobs for c in at_floor.choices]


def test_antidistillation_through_the_server_is_the_library_sampler(teacher, tmp_path, pair):
    model, tok = teacher
    plain, anti = _servers(teacher, tmp_path, defence=Defence(antidistill=3.0, proxy=pair))
    prompt_ids = tok(PROMPT)["input_ids"]
    with plain, anti:
        a = _chat(plain, n=1, max_tokens=24, seed=7, top_logprobs=0)
        b = _chat(anti, n=1, max_tokens=24, seed=7, top_logprobs=0)
    ours = antidistill_generate(model, torch.tensor([prompt_ids]), pair, 3.0, max_new_tokens=24,
                                seed=7)[0]
    got = _ids(b, tok)[0]
    assert got == ours[:len(got)] and len(got) >= min(len(ours), 24)
    assert _ids(a, tok)[0] != got
    # the log-probabilities returned are the teacher's own, not the tilted distribution's
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt_ids + got])).logits[0].float(), -1)
    own = [float(logp[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(got)]
    np.testing.assert_allclose([t.logprob for t in b.choices[0].logprobs.content], own,
                               atol=1e-4)


def test_a_defence_never_shows_in_the_response(teacher, tmp_path, pair):
    defence = Defence(round_decimals=2, noise_std=0.1, min_temperature=0.5, antidistill=1.0,
                      proxy=pair)
    plain, defended = _servers(teacher, tmp_path, defence=defence)
    with plain, defended:
        a, b = _chat(plain), _chat(defended)
        raw = json.dumps(b.model_dump()) + json.dumps(dict(b.model_extra or {}))
        for word in ("defen", "noise", "round", "antidistill", "proxy", "floor"):
            assert word not in raw.lower()
        assert set(b.model_dump()) == set(a.model_dump())
        assert b.system_fingerprint == a.system_fingerprint
        models = _client(defended).models.list().model_dump()
        assert models == _client(plain).models.list().model_dump()
    assert "defended" in repr(defended) and "defended" not in repr(plain)


def test_library_helpers_round_and_noise():
    chosen, top = [-0.123456, -2.5], [[(3, -0.123456), (4, -1.98765)], [(1, -2.5)]]
    assert round_logprobs(chosen, top, 2) == ([-0.12, -2.5], [[(3, -0.12), (4, -1.99)],
                                                              [(1, -2.5)]])
    rng = np.random.default_rng(0)
    c, t = noisy_logprobs([3, 9], chosen, top, 0.3, rng)
    assert c[0] == dict(t[0])[3] and c[1] != -2.5 and all(v <= 0 for v in c)


def test_bad_settings_get_clear_messages(teacher, pair):
    for kwargs, words in [(dict(noise_std=-0.1), "noise_std"), (dict(noise_std="big"), "noise_std"),
                          (dict(round_decimals=1.5), "round_decimals"),
                          (dict(round_decimals=-1), "round_decimals"),
                          (dict(min_temperature=3.0), "min_temperature"),
                          (dict(antidistill="strong", proxy=pair), "antidistill"),
                          (dict(antidistill=float("nan"), proxy=pair), "antidistill"),
                          (dict(antidistill=1.0), "proxy"),
                          (dict(antidistill=1.0, proxy="gpt2"), "proxy"),
                          (dict(top1_only="yes"), "top1_only")]:
        with pytest.raises(ValueError, match=words):
            Defence(**kwargs)
    model, tok = teacher
    with pytest.raises(TypeError, match="Defence"):
        TeacherAPI(model, tok, defence="round=2")
    small = perturbed_proxies(tiny_model(seed=4)[0], torch.randint(1, 200, (2, 8)))
    small.plus.config.vocab_size = 10
    with pytest.raises(ValueError, match="vocabulary"):
        TeacherAPI(model, tok, defence=Defence(antidistill=1.0, proxy=small))
    assert Defence.from_text("round=2, top1,noise=0.5,min-temperature=0.7") == \
        Defence(round_decimals=2, top1_only=True, noise_std=0.5, min_temperature=0.7)
    for text in ["round=two", "loud=3", "noise=-1", "top1=yes"]:
        with pytest.raises(ValueError):
            Defence.from_text(text)


def test_cli_serve_takes_a_defence(monkeypatch, capsys, teacher, tmp_path):
    import course_utils.api.server as server
    seen = []
    monkeypatch.setattr(server, "load_model", lambda name: teacher)
    monkeypatch.setattr(server.TeacherAPI, "serve_forever",
                        lambda self: (seen.append(self._defence), self.stop()))
    assert main(["serve", "tiny", "--defence", "round=1,top1", "--log",
                 str(tmp_path / "l.sqlite")]) == 0
    assert seen == [Defence(round_decimals=1, top1_only=True)]
    assert main(["serve", "tiny", "--defence", "noise=-2"]) == 2
    assert "noise_std" in capsys.readouterr().err


def test_a_harvest_asking_for_logprobs_from_a_top1_server_stops_with_a_clear_message(teacher, tmp_path):
    """Lesson 07's harvester skips a prompt the API refuses; when every request is refused it
    says so after three instead of skipping the whole prompt list and selling nothing."""
    from course_utils.harvest import harvest
    model, tok = teacher
    with serve(model, tok, log_path=tmp_path / "log.sqlite", defence=Defence(top1_only=True)) as api:
        with pytest.raises(ValueError, match="refused the first 3 requests.*top_logprobs=0"):
            harvest(_client(api), [PROMPT] * 20, tmp_path / "h", model=api.model_name,
                    budget_usd=1.0, price_per_1k_prompt=0.01, max_tokens=4, top_logprobs=5,
                    progress=False)
        assert len(read_log(tmp_path / "log.sqlite")) == 3
        # without logprobs the same harvest buys its completions
        rows = harvest(_client(api), [PROMPT] * 4, tmp_path / "h2", model=api.model_name,
                       budget_usd=1.0, price_per_1k_prompt=0.01, max_tokens=4, progress=False)
        assert len(rows) == 4
