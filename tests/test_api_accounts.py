"""Lesson 09's additions to the teacher API: accounts, revocation (403, logged), a simulated clock."""
import pytest

openai = pytest.importorskip("openai")

from course_utils.api import KeyRing, SimClock, TeacherAPI, WallClock, read_log
from course_utils.api.protocol import APIError
from course_utils.cli import main
from tiny_lm import one_thread, tiny_model

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def teacher():
    return tiny_model()


def client(api, key):
    return openai.OpenAI(base_url=api.base_url, api_key=key, max_retries=0, timeout=60)


def ask(c, api, text="a"):
    return c.chat.completions.create(model=api.model_name, max_tokens=2,
                                     messages=[{"role": "user", "content": text}])


def test_sim_clock_moves_only_forward():
    clock = SimClock(10.0)
    assert clock() == 10.0
    assert clock.advance(5) == 15.0
    assert clock.set(100) == 100.0
    with pytest.raises(ValueError, match="backwards"):
        clock.set(50)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert WallClock()() > 1e9


def test_accounts_are_unique_listed_and_revocable():
    ring = KeyRing()
    k1 = ring.add_account("alice", rpm=3)
    ring.add_account("bob")
    with pytest.raises(ValueError, match="already an account"):
        ring.add_account("alice")
    with pytest.raises(ValueError, match="non-empty"):
        ring.add_account("  ")
    names = [a["name"] for a in ring.accounts()]
    assert names == ["alice", "bob"]
    assert all(k1 not in a["key"] for a in ring.accounts())   # keys are masked in listings
    assert ring.revoke("alice", "testing") == "alice"
    with pytest.raises(APIError) as info:
        ring.authenticate(f"Bearer {k1}")
    assert info.value.status == 403 and info.value.code == "key_revoked"
    assert "alice" in info.value.message
    assert ring.restore(k1) == "alice"
    assert ring.authenticate(f"Bearer {k1}")[1].name == "alice"
    with pytest.raises(KeyError):
        ring.revoke("nobody")


def test_simulated_clock_drives_rate_limits_and_log_times(teacher, tmp_path):
    model, tok = teacher
    clock = SimClock(1000.0)
    with TeacherAPI(model, tok, log_path=tmp_path / "l.sqlite", clock=clock) as api:
        c = client(api, api.add_account("u", rpm=2))
        ask(c, api)
        ask(c, api)
        with pytest.raises(openai.RateLimitError) as info:
            ask(c, api)
        # the server asks for the simulated wait: 60 s of the window, not of the wall clock
        assert int(info.value.response.headers["retry-after"]) == 60
        clock.advance(59.0)
        with pytest.raises(openai.RateLimitError):
            ask(c, api)
        clock.advance(1.5)         # the window has moved in simulated time: allowed again
        ask(c, api)
        log = read_log(api.log_path)
    assert list(log.status) == [200, 200, 429, 429, 200]
    assert list(log.ts) == [1000.0, 1000.0, 1000.0, 1059.0, 1060.5]


def test_revoked_key_gets_403_and_a_log_row(teacher, tmp_path):
    model, tok = teacher
    with TeacherAPI(model, tok, log_path=tmp_path / "l.sqlite") as api:
        key = api.add_account("mallory")
        c = client(api, key)
        ask(c, api)
        api.revoke("mallory", reason="distillation")
        with pytest.raises(openai.PermissionDeniedError) as info:
            ask(c, api)
        assert info.value.status_code == 403
        body = info.value.body
        assert set(body) >= {"message", "type", "param", "code"} and body["code"] == "key_revoked"
        assert "distillation" in body["message"]
        assert list(api.accounts().query("name == 'mallory'").revoked) == [True]
        log = read_log(api.log_path)
    assert list(log.status) == [200, 403]
    assert list(log.key_name) == ["mallory", "mallory"]
    assert log.error_code.iloc[1] == "key_revoked"
    assert log.key_hash.iloc[0] == log.key_hash.iloc[1]


def test_accounts_are_isolated(teacher, tmp_path):
    model, tok = teacher
    clock = SimClock()
    with TeacherAPI(model, tok, log_path=tmp_path / "l.sqlite", clock=clock) as api:
        a, b = api.add_account("a", rpm=1, tpm=100), api.add_account("b", rpm=1, tpm=100)
        ca, cb = client(api, a), client(api, b)
        ask(ca, api)
        with pytest.raises(openai.RateLimitError):
            ask(ca, api)                 # a has spent its minute ...
        ask(cb, api)                     # ... which leaves b's untouched
        api.revoke("a")
        clock.advance(120)
        with pytest.raises(openai.PermissionDeniedError):
            ask(ca, api)
        ask(cb, api)                     # revoking a does not touch b
        with pytest.raises(openai.AuthenticationError):
            ask(client(api, a[:-2] + "xx"), api)   # no key can pass for another
        log = read_log(api.log_path)
    by = log.groupby("key_name").status.apply(list).to_dict()
    assert by == {"a": [200, 429, 403], "b": [200, 200]}
    assert log.loc[log.key_name == "b", "cost_usd"].gt(0).all()


def test_cli_serve_opens_accounts(monkeypatch, capsys, teacher):
    import course_utils.api.server as server
    monkeypatch.setattr(server, "load_model", lambda name: teacher)
    monkeypatch.setattr(server.TeacherAPI, "serve_forever", lambda self: self.stop())
    assert main(["serve", "tiny", "--account", "alice", "--account", "bob", "--rpm", "5",
                 "--log", str(capsys and __import__("tempfile").mkdtemp()) + "/l.sqlite"]) == 0
    out = capsys.readouterr().out
    assert "alice: sk-course-" in out and "bob: sk-course-" in out
    assert main(["serve", "tiny", "--account", "x", "--account", "x"]) == 2
    assert "already an account" in capsys.readouterr().err
