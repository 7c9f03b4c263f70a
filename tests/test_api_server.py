"""The teacher API with the real `openai` client over loopback."""
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

openai = pytest.importorskip("openai")

from course_utils.api import MAX_TOP_LOGPROBS, KeyPolicy, SimClock, TeacherAPI, read_log, serve
from course_utils.tokenizer import bytes_to_id, token_bytes
from tiny_lm import one_thread, tiny_model


_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def teacher():
    return tiny_model()


@pytest.fixture
def api(teacher, tmp_path):
    model, tok = teacher
    with serve(model, tok, log_path=tmp_path / "log.sqlite", price_per_1k=0.5) as server:
        yield server


def client_for(api, key=None, retries=0):
    return openai.OpenAI(base_url=api.base_url, api_key=key or api.api_key,
                         max_retries=retries, timeout=60)


def post_raw(api, path, data: bytes, key=None):
    request = urllib.request.Request(api.url + path, data=data, method="POST", headers={
        "Authorization": f"Bearer {key or api.api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_chat_completion_and_usage(api, teacher):
    _, tok = teacher
    client = client_for(api)
    prompt = "The for statement is used"
    r = client.chat.completions.create(model=api.model_name, max_tokens=7, n=3, seed=1,
                                       messages=[{"role": "user", "content": prompt}])
    assert len(r.choices) == 3 and r.object == "chat.completion"
    n_prompt = len(tok(prompt)["input_ids"])
    assert r.usage.prompt_tokens == n_prompt
    assert 1 <= r.usage.completion_tokens <= 21
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    for choice in r.choices:
        assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
        assert choice.finish_reason in ("stop", "length")
    # the log holds one row with the same usage and the price
    log = read_log(api.log_path)
    assert len(log) == 1 and log.status[0] == 200
    assert log.prompt_tokens[0] == r.usage.prompt_tokens
    assert log.completion_tokens[0] == r.usage.completion_tokens
    assert log.cost_usd[0] == pytest.approx(r.usage.total_tokens * 0.5 / 1000)


def test_completions_endpoint_greedy_is_deterministic_and_matches_model(api, teacher):
    model, tok = teacher
    client = client_for(api)
    prompt = "Assignment statements"
    a = client.completions.create(model=api.model_name, prompt=prompt, max_tokens=6,
                                  temperature=0)
    b = client.completions.create(model=api.model_name, prompt=[prompt, "Class"], max_tokens=6,
                                  temperature=0)
    assert a.choices[0].text == b.choices[0].text and len(b.choices) == 2
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    greedy = model.generate(ids, max_new_tokens=6, do_sample=False,
                            pad_token_id=tok.eos_token_id)[0, ids.shape[1]:]
    eos = tok.eos_token_id
    greedy = [t for t in greedy.tolist()]
    if eos in greedy:
        greedy = greedy[:greedy.index(eos)]
    assert a.choices[0].text == tok.decode(greedy)
    assert a.usage.completion_tokens == (6 if a.choices[0].finish_reason == "length"
                                         else len(greedy) + 1)


def test_top_logprobs_match_the_teachers_distribution(api, teacher):
    model, tok = teacher
    client = client_for(api)
    prompt = "The while statement"
    r = client.chat.completions.create(model=api.model_name, max_tokens=5, temperature=0.7,
                                       seed=3, logprobs=True, top_logprobs=MAX_TOP_LOGPROBS,
                                       messages=[{"role": "user", "content": prompt}])
    content = r.choices[0].logprobs.content
    lookup = bytes_to_id(tok)
    ids = tok(prompt)["input_ids"]
    for item in content:
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
        top_v, top_i = logp.topk(MAX_TOP_LOGPROBS)
        got_ids = [lookup[bytes(alt.bytes)] for alt in item.top_logprobs]
        got_v = [alt.logprob for alt in item.top_logprobs]
        assert got_ids == top_i.tolist()
        np.testing.assert_allclose(got_v, top_v.numpy(), atol=1e-4)
        chosen = lookup[bytes(item.bytes)]
        assert item.logprob == pytest.approx(float(logp[chosen]), abs=1e-4)
        ids.append(chosen)
    # the completions endpoint's format: a dict per position
    c = client.completions.create(model=api.model_name, prompt=prompt, max_tokens=3,
                                  temperature=0, logprobs=5)
    assert len(c.choices[0].logprobs.top_logprobs[0]) <= 5
    assert len(c.choices[0].logprobs.tokens) == len(c.choices[0].logprobs.token_logprobs)


def test_token_bytes_round_trip(teacher):
    _, tok = teacher
    lookup = bytes_to_id(tok)
    ids = tok("Déjà vu: naïve café")["input_ids"]
    assert b"".join(token_bytes(tok, i) for i in ids).decode() == "Déjà vu: naïve café"
    assert all(lookup[token_bytes(tok, i)] == i for i in ids)


def test_bad_key_is_401(api):
    with pytest.raises(openai.AuthenticationError) as info:
        client_for(api, key="sk-wrong-key-123456").chat.completions.create(
            model=api.model_name, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"


def test_bad_requests_get_openai_error_json(api):
    status, _, body = post_raw(api, "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "Traceback" not in json.dumps(body)
    cases = [
        {"model": "course-teacher", "messages": "hello"},
        {"model": "course-teacher", "messages": [{"role": "user", "content": "x"}],
         "logprobs": True, "top_logprobs": 21},
        {"model": "course-teacher", "messages": [{"role": "user", "content": "x"}],
         "temperature": "hot"},
        {"model": "course-teacher", "messages": [{"role": "user", "content": "x"}],
         "max_tokens": 10**6},
        {"model": "course-teacher", "messages": [{"role": "user", "content": "x"}],
         "frobnicate": 1},
        [1, 2, 3],
    ]
    for payload in cases:
        status, _, body = post_raw(api, "/v1/chat/completions", json.dumps(payload).encode())
        assert status == 400, payload
        assert set(body["error"]) == {"message", "type", "param", "code"}
    status, _, body = post_raw(api, "/v1/completions", json.dumps(
        {"model": "gpt-7", "prompt": "x"}).encode())
    assert status == 404 and body["error"]["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client_for(api).completions.create(model=api.model_name, prompt="x", logprobs=50)


def test_rate_limits_429_with_retry_after(teacher, tmp_path):
    # a simulated clock that nobody moves: the window cannot slide between two calls,
    # however slow the machine, so each 429 below is certain
    model, tok = teacher
    with TeacherAPI(model, tok, log_path=tmp_path / "l.sqlite", window_s=2.0,
                    clock=SimClock()) as api:
        slow = api.add_key("slow", rpm=2)
        client = client_for(api, key=slow)
        for _ in range(2):
            client.completions.create(model=api.model_name, prompt="a", max_tokens=2)
        with pytest.raises(openai.RateLimitError) as info:
            client.completions.create(model=api.model_name, prompt="a", max_tokens=2)
        headers = info.value.response.headers
        assert int(headers["retry-after"]) == 2
        assert info.value.body["code"] == "rate_limit_exceeded"
        assert "requests per minute" in info.value.body["message"]
        # the default key is not limited by another key's use
        client_for(api).completions.create(model=api.model_name, prompt="a", max_tokens=2)
        # tokens per minute: the first call uses at least its one prompt token, so a second
        # that may use 30 more (1 prompt + 29 completion) does not fit a limit of 30
        tight = api.add_key("tight", tpm=30)
        tc = client_for(api, key=tight)
        tc.completions.create(model=api.model_name, prompt="a", max_tokens=20)
        with pytest.raises(openai.RateLimitError) as info:
            tc.completions.create(model=api.model_name, prompt="a", max_tokens=29)
        assert "tokens per minute" in info.value.body["message"]
        log = read_log(api.log_path)
        assert (log.status == 429).sum() == 2
        assert set(log.key_name) >= {"slow", "default", "tight"}


def test_client_retries_honour_retry_after(teacher, tmp_path):
    # the official client's own retries wait out Retry-After and succeed once the (real,
    # one-second) window moves on
    model, tok = teacher
    with TeacherAPI(model, tok, log_path=tmp_path / "l.sqlite", window_s=1.0) as api:
        slow = api.add_key("slow", rpm=1)
        client_for(api, key=slow).completions.create(model=api.model_name, prompt="a",
                                                     max_tokens=2)
        patient = client_for(api, key=slow, retries=3)
        patient.completions.create(model=api.model_name, prompt="a", max_tokens=2)
        log = read_log(api.log_path)
        assert (log.status == 200).sum() == 2


def test_fifty_concurrent_requests_lose_no_log_rows(api):
    client = client_for(api, retries=0)
    errors, results = [], []

    def call(i):
        try:
            r = client.completions.create(model=api.model_name, prompt=f"Request {i}",
                                          max_tokens=3, seed=i)
            results.append(r.usage.total_tokens)
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    log = read_log(api.log_path)
    assert len(log) == 50 and (log.status == 200).all()
    assert sorted(log.prompt.map(json.loads)) == sorted(f"Request {i}" for i in range(50))
    assert log.prompt_tokens.sum() + log.completion_tokens.sum() == sum(results)


def test_stop_frees_the_port_even_after_an_interrupt(teacher, tmp_path):
    model, tok = teacher
    with pytest.raises(KeyboardInterrupt):
        with serve(model, tok, log_path=tmp_path / "l.sqlite") as api:
            port = api.port
            client_for(api).completions.create(model=api.model_name, prompt="a", max_tokens=1)
            raise KeyboardInterrupt
    assert not api.running
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name == f"teacher-api-{port}"]
    with socket.socket() as s:   # the port can be bound again at once (as servers bind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0,
                      timeout=5).completions.create(model="course-teacher", prompt="a")
    api.stop()   # twice is fine


def test_cli_serve_reports_bad_model(capsys):
    from course_utils.cli import main
    assert main(["serve", "/nonexistent/model/folder"]) == 2
    assert "could not load" in capsys.readouterr().err
