"""API keys and their limits: who may call, and how much per minute.

:class:`KeyRing` holds the server's keys (``{api_key: KeyPolicy}``), answers ``401`` for a
missing or unknown key, and limits each key's requests and tokens per minute over a sliding
window (``429`` with ``Retry-After``, as the real service does). Taught in lesson 07.

Part III adds key revocation here: a revoked key is one :meth:`KeyRing.authenticate`
refuses; everything that asks "may this key call?" goes through that one method.
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

    def __init__(self, keys: dict | None = None, window_s: float = 60.0):
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
        return key, policy

    def admit(self, key: str, policy: KeyPolicy, tokens: int) -> list:
        """Count a request of ``tokens`` against its key's limits, or raise a 429.

        Returns the usage record; :meth:`charge` later corrects it to the tokens really used.
        """
        now = time.monotonic()
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
