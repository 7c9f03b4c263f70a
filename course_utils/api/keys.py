"""API keys and their limits: who may call, and how much per minute.

:class:`KeyRing` holds the server's keys (``{api_key: KeyPolicy}``), answers ``401`` for a
missing or unknown key, and limits each key's requests and tokens per minute over a sliding
window (``429`` with ``Retry-After``, as the real service does). Taught in lesson 07.

Lesson 09 adds accounts and revocation: :meth:`KeyRing.add_account` gives an account its one
key (names are unique), :meth:`KeyRing.accounts` lists them, and :meth:`KeyRing.revoke` cuts
one off: :meth:`KeyRing.authenticate` (the one method that asks "may this key call?") then
answers ``403`` with OpenAI's error shape. The sliding window follows ``clock`` (a
:class:`~.clock.SimClock` in lesson 09, so simulated hours pass in seconds).
"""
from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .protocol import APIError


@dataclass
class KeyPolicy:
    """What one API key may do: requests and tokens per minute (None = unlimited)."""
    name: str
    rpm: int | None = None
    tpm: int | None = None
    revoked: bool = False
    revoked_reason: str = ""


@dataclass
class _Usage:
    """A key's recent requests, for the sliding-window rate limits."""
    events: deque = field(default_factory=deque)   # [time, tokens]


def new_key() -> str:
    """A fresh random API key."""
    return "sk-course-" + secrets.token_hex(12)


def _masked(key: str) -> str:
    return key[:6] + "*" * max(0, len(key) - 10) + key[-4:] if len(key) > 10 else "*" * len(key)


class KeyRing:
    """The keys of one server and their sliding-window usage (thread-safe)."""

    def __init__(self, keys: dict | None = None, window_s: float = 60.0, clock=None):
        self.clock = clock if clock is not None else time.monotonic
        self.keys: dict[str, KeyPolicy] = {
            k: (v if isinstance(v, KeyPolicy) else KeyPolicy(**v)) for k, v in (keys or {}).items()}
        self.window_s = float(window_s)
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    def add(self, name: str, rpm: int | None = None, tpm: int | None = None,
            key: str | None = None) -> str:
        """Create a key (random unless given) with its own limits; returns the key."""
        key = key or new_key()
        self.keys[key] = KeyPolicy(name, rpm=rpm, tpm=tpm)
        return key

    def add_account(self, name: str, rpm: int | None = None, tpm: int | None = None,
                    key: str | None = None) -> str:
        """Open an account ``name`` with its one key (and its own limits); returns the key.

        Account names are unique: a second account of the same name is refused. Taught in
        lesson 09.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"An account needs a non-empty name, not {name!r}.")
        if any(p.name == name for p in self.keys.values()):
            raise ValueError(f"There is already an account named {name!r}: one key per "
                             "account (revoke it, or choose another name).")
        return self.add(name, rpm=rpm, tpm=tpm, key=key)

    def accounts(self) -> list[dict]:
        """Every key: ``name``, masked ``key``, ``rpm``, ``tpm``, ``revoked`` (and why)."""
        return [dict(name=p.name, key=_masked(k), rpm=p.rpm, tpm=p.tpm, revoked=p.revoked,
                     revoked_reason=p.revoked_reason) for k, p in self.keys.items()]

    def _find(self, key_or_name: str) -> str:
        if key_or_name in self.keys:
            return key_or_name
        found = [k for k, p in self.keys.items() if p.name == key_or_name]
        if not found:
            raise KeyError(f"No key or account named {key_or_name!r}.")
        return found[0]

    def revoke(self, key_or_name: str, reason: str = "extraction of model outputs") -> str:
        """Revoke an account's key (given the key or the account name); its next request gets
        ``403``. Returns the account name. Taught in lesson 09."""
        with self._lock:
            policy = self.keys[self._find(key_or_name)]
            policy.revoked, policy.revoked_reason = True, str(reason)
            return policy.name

    def restore(self, key_or_name: str) -> str:
        """Undo :meth:`revoke` (a customer blocked by mistake); returns the account name."""
        with self._lock:
            policy = self.keys[self._find(key_or_name)]
            policy.revoked, policy.revoked_reason = False, ""
            return policy.name

    def authenticate(self, authorization: str) -> tuple[str, KeyPolicy]:
        """The key and policy of an ``Authorization: Bearer KEY`` header, or a 401."""
        header = authorization or ""
        key = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not key:
            raise APIError(401, "You didn't provide an API key. Send it in the "
                           "Authorization header as 'Bearer YOUR_KEY'.", code="invalid_api_key")
        policy = self.keys.get(key)
        if policy is None:
            raise APIError(401, f"Incorrect API key provided: {_masked(key)}.",
                           code="invalid_api_key")
        if policy.revoked:
            error = APIError(403, f"The API key of account '{policy.name}' has been revoked "
                             f"({policy.revoked_reason}). Contact the provider if you believe "
                             "this is a mistake.", type="invalid_request_error",
                             code="key_revoked")
            error.key, error.policy = key, policy   # so that the server logs who it refused
            raise error
        return key, policy

    def admit(self, key: str, policy: KeyPolicy, tokens: int) -> list:
        """Count a request of ``tokens`` against its key's limits, or raise a 429.

        Returns the usage record; :meth:`charge` later corrects it to the tokens really used.
        """
        now = self.clock()
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            while usage.events and usage.events[0][0] <= now - self.window_s:
                usage.events.popleft()
            wait, what = self._wait(usage, policy, tokens, now)
            if wait is not None:
                wait = max(wait, 0.001)
                raise APIError(429, f"Rate limit reached for key '{policy.name}' on {what}. "
                               f"Please try again in {wait:.3f}s.", type="requests" if "requests"
                               in what else "tokens", code="rate_limit_exceeded",
                               headers={"Retry-After": str(max(1, math.ceil(wait))),
                                        "retry-after-ms": str(int(math.ceil(wait * 1000)))})
            usage.events.append([now, tokens])
            return usage.events[-1]

    def _wait(self, usage, policy, tokens, now):
        """Seconds to wait before this request fits the limits (None: it fits now)."""
        if policy.rpm is not None and len(usage.events) >= policy.rpm:
            return (usage.events[0][0] + self.window_s - now,
                    f"requests per minute (limit {policy.rpm})")
        if policy.tpm is None:
            return None, ""
        if tokens > policy.tpm:
            raise APIError(429, f"This request needs {tokens} tokens (prompt + max_tokens"
                           f" x n), more than the key's limit of {policy.tpm} tokens per "
                           "minute. Ask for fewer tokens.", type="tokens",
                           code="rate_limit_exceeded")
        used = sum(t for _, t in usage.events)
        if used + tokens <= policy.tpm:
            return None, ""
        # wait until enough old requests leave the window
        freed, wait = used + tokens - policy.tpm, 0.0
        for t0, tok in usage.events:
            freed -= tok
            wait = t0 + self.window_s - now
            if freed <= 0:
                break
        return wait, f"tokens per minute (limit {policy.tpm})"

    def charge(self, record: list, tokens: int) -> None:
        """Set an admitted request's token count to what it really used."""
        with self._lock:
            record[1] = tokens
