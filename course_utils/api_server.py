"""A teacher behind an OpenAI-compatible HTTP API, on this machine.

Lesson 07 distils a model the learner can only reach through an API, exactly as a lab with
API access to a stronger model would. This module is that API: a real HTTP server on
127.0.0.1 (a free port) that serves any transformers causal language model and its tokenizer
with the two endpoints the official ``openai`` client calls,

* ``POST /v1/completions``       -- ``prompt`` (a string or a list of strings),
* ``POST /v1/chat/completions``  -- ``messages``,

and ``GET /v1/models``. Both take ``max_tokens``, ``temperature`` (0 = greedy), ``top_p``,
``n``, ``stop``, ``seed`` and log-probabilities (``logprobs``/``top_logprobs``, at most 20
alternatives per token, like the real service), and answer with ``usage`` (prompt, completion
and total tokens).

Like a provider, it checks API keys (``401``), limits each key's requests and tokens per
minute (``429`` with ``Retry-After``), prices tokens (dollars per 1K prompt and completion
tokens) and writes one row per request to a SQLite log that later lessons read
(:func:`read_log`). Bad requests get OpenAI's error JSON (``{"error": {"message", "type",
"param", "code"}}``), never a stack trace.

Start it from a notebook as a context manager (stopped, and its port freed, when the block
ends, also when the kernel is interrupted)::

    with serve(model, tokenizer, price_per_1k=0.002) as api:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.api_key)
        client.chat.completions.create(model=api.model_name, messages=[...])

or from a shell with ``course serve`` (``course serve --help``).

Log-probabilities are those of the model's own distribution (temperature 1, before top-p),
whatever temperature is used for sampling: they are what a distiller wants as soft targets.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import secrets
import socket
import sqlite3
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_TOP_LOGPROBS = 20
MAX_N = 16

__all__ = ["KeyPolicy", "TeacherAPI", "serve", "read_log", "APIError", "token_bytes",
           "bytes_to_id", "MAX_TOP_LOGPROBS", "running_servers", "stop_all"]


class APIError(Exception):
    """An error the API reports to the caller as OpenAI-style JSON."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}


@dataclass
class KeyPolicy:
    """What one API key may do: requests and tokens per minute (None = unlimited)."""
    name: str
    rpm: int | None = None
    tpm: int | None = None


@dataclass
class _Usage:
    """A key's recent requests, for the sliding-window rate limits."""
    events: deque = field(default_factory=deque)   # (time, tokens)


# --------------------------------------------------------------------------------------
# Tokens as bytes: exact token identities for a client that shares the tokenizer
# --------------------------------------------------------------------------------------
def _byte_decoder() -> dict[str, int]:
    # GPT-2's reversible map from bytes to printable characters, used by byte-level BPE.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _byte_decoder()


def token_bytes(tokenizer, token_id: int) -> bytes:
    """The exact bytes a token stands for (byte-level BPE), else its decoded text in UTF-8."""
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if isinstance(piece, str) and piece and all(ch in _BYTE_DECODER for ch in piece):
        return bytes(_BYTE_DECODER[ch] for ch in piece)
    return tokenizer.decode([int(token_id)]).encode("utf-8")


def bytes_to_id(tokenizer) -> dict[bytes, int]:
    """Map each token's bytes back to its id (the first id wins where two share bytes)."""
    table: dict[bytes, int] = {}
    for token_id in range(len(tokenizer)):
        table.setdefault(token_bytes(tokenizer, token_id), token_id)
    return table


# --------------------------------------------------------------------------------------
# The request log
# --------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    request_id TEXT,
    key_name TEXT,
    key_hash TEXT,
    endpoint TEXT,
    model TEXT,
    status INTEGER,
    error_code TEXT,
    n INTEGER,
    max_tokens INTEGER,
    temperature REAL,
    top_logprobs INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    latency_ms REAL,
    prompt TEXT,
    completion TEXT
)"""

_LOG_COLUMNS = ("ts", "request_id", "key_name", "key_hash", "endpoint", "model", "status",
                "error_code", "n", "max_tokens", "temperature", "top_logprobs", "prompt_tokens",
                "completion_tokens", "cost_usd", "latency_ms", "prompt", "completion")


class _RequestLog:
    """One SQLite file; every write in its own transaction under a lock (WAL journal)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self):
        return contextlib.closing(sqlite3.connect(self.path, timeout=30, isolation_level=None))

    def write(self, row: dict) -> None:
        values = [row.get(c) for c in _LOG_COLUMNS]
        sql = f"INSERT INTO requests ({', '.join(_LOG_COLUMNS)}) VALUES " \
              f"({', '.join('?' * len(_LOG_COLUMNS))})"
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql, values)
            db.execute("COMMIT")


def read_log(path, key_name: str | None = None):
    """The request log as a pandas DataFrame (one row per request, oldest first)."""
    import pandas as pd
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No request log at {path}: has the server been started?")
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        query, args = "SELECT * FROM requests", ()
        if key_name is not None:
            query, args = query + " WHERE key_name = ?", (key_name,)
        return pd.read_sql_query(query + " ORDER BY id", db, params=args)


# --------------------------------------------------------------------------------------
# Request validation helpers
# --------------------------------------------------------------------------------------
_COMMON = {"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop",
           "seed", "stream", "user", "presence_penalty", "frequency_penalty", "logit_bias"}
_ALLOWED = {
    "/v1/completions": _COMMON | {"prompt", "logprobs", "echo", "suffix", "best_of"},
    "/v1/chat/completions": _COMMON | {"messages", "logprobs", "top_logprobs", "stream_options",
                                       "response_format", "metadata", "store", "service_tier"},
}


def _number(body, name, default, lo, hi, integer=False):
    value = body.get(name, default)
    if value is None:
        return default
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        kind = "an integer" if integer else "a number"
        raise APIError(400, f"'{name}' must be {kind}, not {value!r}.", param=name,
                       code="invalid_type")
    if not (lo <= value <= hi):
        raise APIError(400, f"'{name}' must be between {lo} and {hi}; got {value}.", param=name,
                       code="invalid_value")
    return value


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------
class TeacherAPI:
    """An OpenAI-compatible server for one causal LM. See the module docstring.

    Parameters: ``model``, ``tokenizer`` (transformers); ``model_name`` (what clients pass as
    ``model``); ``keys``: ``{api_key: KeyPolicy}`` (default: one key, ``api_key``, limited by
    ``rpm``/``tpm``); ``price_per_1k`` dollars per 1K tokens (or separate
    ``price_per_1k_prompt``/``price_per_1k_completion``); ``log_path`` for the SQLite log
    (default: a fresh file in the course cache); ``prompt_format`` turns chat messages into
    the model's text (default: the tokenizer's chat template if it has one, else the messages'
    contents joined by newlines, which suits a base model that continues text);
    ``window_s``: the rate-limit window (60 s, as "per minute").
    """

    def __init__(self, model, tokenizer, *, model_name: str = "course-teacher",
                 keys: dict | None = None, rpm: int | None = None, tpm: int | None = None,
                 price_per_1k: float = 0.002, price_per_1k_prompt: float | None = None,
                 price_per_1k_completion: float | None = None, log_path=None,
                 prompt_format=None, max_tokens_default: int = 16, window_s: float = 60.0,
                 host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.model_name = model_name
        if keys is None:
            self.api_key = "sk-course-" + secrets.token_hex(12)
            keys = {self.api_key: KeyPolicy("default", rpm=rpm, tpm=tpm)}
        else:
            keys = {k: (v if isinstance(v, KeyPolicy) else KeyPolicy(**v)) for k, v in keys.items()}
            self.api_key = next(iter(keys), None)
        self.keys: dict[str, KeyPolicy] = dict(keys)
        self.price_prompt = price_per_1k if price_per_1k_prompt is None else price_per_1k_prompt
        self.price_completion = price_per_1k if price_per_1k_completion is None \
            else price_per_1k_completion
        if log_path is None:
            from .config import cache_dir
            log_path = cache_dir() / "api_logs" / f"requests-{time.strftime('%Y%m%d-%H%M%S')}-" \
                f"{secrets.token_hex(3)}.sqlite"
        self.log_path = Path(log_path)
        self.log = _RequestLog(self.log_path)
        self.prompt_format = prompt_format
        self.max_tokens_default = max_tokens_default
        self.window_s = float(window_s)
        self.host, self._port, self.quiet = host, port, quiet
        self._usage: dict[str, _Usage] = {}
        self._limit_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        ctx = getattr(model.config, "n_positions", None) or \
            getattr(model.config, "max_position_embeddings", None) or 1024
        self.context_length = int(ctx)

    # ---- keys and prices ------------------------------------------------------------
    def add_key(self, name: str, rpm: int | None = None, tpm: int | None = None) -> str:
        """Create a new API key with its own limits; returns the key."""
        key = "sk-course-" + secrets.token_hex(12)
        self.keys[key] = KeyPolicy(name, rpm=rpm, tpm=tpm)
        return key

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for one request at this server's prices."""
        return (prompt_tokens * self.price_prompt + completion_tokens * self.price_completion) / 1000

    # ---- life cycle -----------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("The server is not running: call start() or use `with serve(...)`.")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass to ``openai.OpenAI(base_url=...)``."""
        return self.url + "/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "TeacherAPI":
        if self.running:
            return self
        self._httpd = _Server((self.host, self._port), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"teacher-api-{self.port}", daemon=True)
        self._thread.start()
        _RUNNING.add(self)
        if not self.quiet:
            print(f"Teacher API for {self.model_name!r} at {self.base_url} (log: {self.log_path})")
        return self

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        with contextlib.suppress(Exception):
            httpd.shutdown()
        with contextlib.suppress(Exception):
            httpd.server_close()
        with contextlib.suppress(Exception):
            httpd.close_open_connections()
        if thread is not None:
            thread.join(timeout=10)
        self._httpd, self._thread = None, None
        _RUNNING.discard(self)

    def __enter__(self) -> "TeacherAPI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C (the command line uses this)."""
        self.start()
        try:
            while self.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._httpd else "stopped"
        return f"TeacherAPI({self.model_name!r}, {where})"

    # ---- rate limits ----------------------------------------------------------------
    def _admit(self, key: str, policy: KeyPolicy, tokens: int) -> None:
        """Count a request against its key's limits, or raise a 429."""
        now = time.monotonic()
        with self._limit_lock:
            usage = self._usage.setdefault(key, _Usage())
            while usage.events and usage.events[0][0] <= now - self.window_s:
                usage.events.popleft()
            wait = None
            if policy.rpm is not None and len(usage.events) >= policy.rpm:
                wait = usage.events[0][0] + self.window_s - now
                what = f"requests per minute (limit {policy.rpm})"
            elif policy.tpm is not None:
                if tokens > policy.tpm:
                    raise APIError(429, f"This request needs {tokens} tokens (prompt + max_tokens"
                                   f" x n), more than the key's limit of {policy.tpm} tokens per "
                                   "minute. Ask for fewer tokens.", type="tokens",
                                   code="rate_limit_exceeded")
                used = sum(t for _, t in usage.events)
                if used + tokens > policy.tpm:
                    # wait until enough old requests leave the window
                    freed, wait = used + tokens - policy.tpm, 0.0
                    for t0, tok in usage.events:
                        freed -= tok
                        wait = t0 + self.window_s - now
                        if freed <= 0:
                            break
                    what = f"tokens per minute (limit {policy.tpm})"
            if wait is not None:
                wait = max(wait, 0.001)
                raise APIError(429, f"Rate limit reached for key '{policy.name}' on {what}. "
                               f"Please try again in {wait:.3f}s.", type="requests" if "requests"
                               in what else "tokens", code="rate_limit_exceeded",
                               headers={"Retry-After": str(max(1, math.ceil(wait))),
                                        "retry-after-ms": str(int(math.ceil(wait * 1000)))})
            usage.events.append([now, tokens])
            return usage.events[-1]

    # ---- the model ------------------------------------------------------------------
    def _chat_prompt(self, messages) -> str:
        if not isinstance(messages, list) or not messages:
            raise APIError(400, "'messages' must be a non-empty list of {role, content} objects.",
                           param="messages")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or \
                    not isinstance(m.get("content"), str):
                raise APIError(400, f"messages[{i}] must be an object with string 'role' and "
                               "'content'.", param=f"messages[{i}]")
        if self.prompt_format is not None:
            return self.prompt_format(messages)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        return "\n".join(m["content"] for m in messages)

    def _encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            bos = self.tokenizer.bos_token_id
            if bos is None:
                bos = self.tokenizer.eos_token_id
            ids = [bos if bos is not None else 0]
        return list(ids)

    def generate(self, prompt_ids: list[int], *, max_tokens: int, temperature: float,
                 top_p: float, n: int, top_k_logprobs: int, stop: list[str], seed: int | None):
        """Sample ``n`` continuations; returns per choice (ids, logprobs, top, finish_reason)."""
        import torch
        eos = self.tokenizer.eos_token_id
        generator = torch.Generator().manual_seed(seed if seed is not None
                                                  else secrets.randbits(62))
        device = next(self.model.parameters()).device
        ids = torch.tensor([prompt_ids] * n, device=device)
        out_ids = [[] for _ in range(n)]
        out_lp = [[] for _ in range(n)]
        out_top = [[] for _ in range(n)]
        finish = [None] * n
        past = None
        from .config import few_threads
        from .seqkd import API_MODEL_PARAMS
        with self._model_lock, torch.no_grad(), few_threads(self.model, max_params=API_MODEL_PARAMS):
            for step in range(max_tokens):
                result = self.model(input_ids=ids, past_key_values=past, use_cache=True)
                past = result.past_key_values
                logits = result.logits[:, -1, :].float().cpu()
                logp = torch.log_softmax(logits, dim=-1)
                if temperature == 0:
                    chosen = logits.argmax(dim=-1)
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    if top_p < 1.0:
                        sorted_p, order = probs.sort(dim=-1, descending=True)
                        keep = sorted_p.cumsum(-1) - sorted_p < top_p
                        keep[:, 0] = True
                        sorted_p = sorted_p * keep
                        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
                    chosen = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
                if top_k_logprobs:
                    top_v, top_i = logp.topk(top_k_logprobs, dim=-1)
                for row in range(n):
                    if finish[row] is not None:
                        continue
                    tok = int(chosen[row])
                    out_ids[row].append(tok)
                    out_lp[row].append(float(logp[row, tok]))
                    if top_k_logprobs:
                        out_top[row].append(list(zip(top_i[row].tolist(), top_v[row].tolist())))
                    if eos is not None and tok == eos:
                        finish[row] = "stop"
                    elif stop:
                        text = self.tokenizer.decode(out_ids[row])
                        if any(s in text for s in stop):
                            finish[row] = "stop"
                if all(f is not None for f in finish):
                    break
                if len(prompt_ids) + step + 1 >= self.context_length:
                    break
                ids = chosen.unsqueeze(-1).to(device)
        return [(out_ids[r], out_lp[r], out_top[r], finish[r] or "length") for r in range(n)]

    def _finish_text(self, ids, logprobs, top, stop):
        """Decode a choice, cut at the first stop sequence (dropping tokens after it)."""
        eos = self.tokenizer.eos_token_id
        if ids and eos is not None and ids[-1] == eos:
            ids, logprobs, top = ids[:-1], logprobs[:-1], top[:-1]
        text = self.tokenizer.decode(ids)
        if stop:
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text = text[:cut]
                keep = 0
                while keep < len(ids) and len(self.tokenizer.decode(ids[:keep + 1])) <= cut:
                    keep += 1
                ids, logprobs, top = ids[:keep], logprobs[:keep], top[:keep]
        return text, ids, logprobs, top

    # ---- the endpoints ----------------------------------------------------------------
    def handle(self, path: str, key: str, policy: KeyPolicy, body: dict) -> tuple[dict, dict]:
        """Answer one request; returns (response JSON, log fields)."""
        chat = path == "/v1/chat/completions"
        unknown = sorted(set(body) - _ALLOWED[path])
        if unknown:
            raise APIError(400, f"Unrecognized request argument supplied: {unknown[0]}",
                           param=unknown[0], code="unknown_parameter")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise APIError(400, "You must provide a model parameter.", param="model",
                           code="missing_required_parameter")
        if model != self.model_name:
            raise APIError(404, f"The model '{model}' does not exist. This server serves "
                           f"'{self.model_name}'.", param="model", code="model_not_found")
        if body.get("stream"):
            raise APIError(400, "This server does not stream; leave 'stream' unset.",
                           param="stream", code="unsupported_value")
        n = _number(body, "n", 1, 1, MAX_N, integer=True)
        temperature = float(_number(body, "temperature", 1.0, 0.0, 2.0))
        top_p = float(_number(body, "top_p", 1.0, 0.0, 1.0))
        if top_p == 0:
            temperature = 0.0
        seed = _number(body, "seed", None, -2**63, 2**63 - 1, integer=True)
        limit_name = "max_completion_tokens" if body.get("max_completion_tokens") is not None \
            else "max_tokens"
        max_tokens = _number(body, limit_name, None, 1, self.context_length, integer=True)
        stop = body.get("stop")
        if stop is None:
            stop = []
        elif isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or len(stop) > 4 or \
                not all(isinstance(s, str) and s for s in stop):
            raise APIError(400, "'stop' must be a string or a list of up to 4 non-empty strings.",
                           param="stop")
        if chat:
            prompts = [self._chat_prompt(body.get("messages"))]
            want_lp = body.get("logprobs") or False
            if not isinstance(want_lp, bool):
                raise APIError(400, "'logprobs' must be true or false.", param="logprobs")
            k = _number(body, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS, integer=True)
            if k and not want_lp:
                raise APIError(400, "'top_logprobs' needs 'logprobs' set to true.",
                               param="top_logprobs")
            if max_tokens is None:
                max_tokens = min(256, self.context_length)
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, str):
                prompts = [prompt]
            elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
                prompts = prompt
            else:
                raise APIError(400, "'prompt' must be a string or a non-empty list of strings.",
                               param="prompt")
            k = _number(body, "logprobs", None, 0, MAX_TOP_LOGPROBS, integer=True)
            want_lp = k is not None
            k = k or 0
            if max_tokens is None:
                max_tokens = self.max_tokens_default
        encoded = [self._encode(p) for p in prompts]
        prompt_tokens = sum(len(e) for e in encoded)
        for e in encoded:
            if len(e) + max_tokens > self.context_length:
                raise APIError(400, f"This model's maximum context length is "
                               f"{self.context_length} tokens. However, you requested "
                               f"{len(e) + max_tokens} tokens ({len(e)} in the prompt, "
                               f"{max_tokens} for the completion). Please reduce your prompt "
                               "or max_tokens.", param="messages" if chat else "prompt",
                               code="context_length_exceeded")
        admitted = self._admit(key, policy, prompt_tokens + max_tokens * n * len(prompts))

        choices, completion_tokens, texts = [], 0, []
        for p_index, ids in enumerate(encoded):
            results = self.generate(ids, max_tokens=max_tokens, temperature=temperature,
                                    top_p=top_p, n=n, top_k_logprobs=k if want_lp else 0,
                                    stop=stop, seed=None if seed is None else seed + p_index)
            for j, (out, lps, top, reason) in enumerate(results):
                completion_tokens += len(out)
                text, out, lps, top = self._finish_text(out, lps, top, stop)
                texts.append(text)
                index = p_index * n + j
                lp_json = self._logprobs_json(out, lps, top, chat, k) if want_lp else None
                if chat:
                    choices.append({"index": index, "message": {"role": "assistant",
                                    "content": text, "refusal": None},
                                    "logprobs": lp_json, "finish_reason": reason})
                else:
                    choices.append({"index": index, "text": text, "logprobs": lp_json,
                                    "finish_reason": reason})
        with self._limit_lock:   # charge what was really used
            admitted[1] = prompt_tokens + completion_tokens
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        response = {"id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24],
                    "object": "chat.completion" if chat else "text_completion",
                    "created": int(time.time()), "model": self.model_name,
                    "system_fingerprint": "fp_course", "choices": choices, "usage": usage}
        log = dict(n=n, max_tokens=max_tokens, temperature=temperature, top_logprobs=k,
                   prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   cost_usd=self.cost(prompt_tokens, completion_tokens),
                   prompt=json.dumps(prompts if len(prompts) > 1 else prompts[0]),
                   completion=json.dumps(texts if len(texts) > 1 else texts[0]))
        return response, log

    def _logprobs_json(self, ids, lps, top, chat, k):
        tok = self.tokenizer
        text_of = lambda i: tok.decode([int(i)])  # noqa: E731
        if chat:
            content = []
            for i, lp, alts in zip(ids, lps, top):
                content.append({"token": text_of(i), "logprob": lp,
                                "bytes": list(token_bytes(tok, i)),
                                "top_logprobs": [{"token": text_of(a), "logprob": v,
                                                  "bytes": list(token_bytes(tok, a))}
                                                 for a, v in alts[:k]]})
            return {"content": content, "refusal": None}
        offsets, pos = [], 0
        for i in ids:
            offsets.append(pos)
            pos += len(text_of(i))
        top_json = []
        for alts in top:
            d = {}
            for a, v in alts[:k]:
                d.setdefault(text_of(a), v)
            top_json.append(d)
        return {"tokens": [text_of(i) for i in ids], "token_logprobs": lps,
                "top_logprobs": top_json if k else None, "text_offset": offsets}


_RUNNING: set = set()


def running_servers() -> list[TeacherAPI]:
    """The teacher APIs started in this process and not yet stopped."""
    return list(_RUNNING)


def stop_all() -> None:
    """Stop every teacher API this process started (also run at exit)."""
    for server in list(_RUNNING):
        server.stop()


import atexit  # noqa: E402

atexit.register(stop_all)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, *args, **kwargs):
        self._open: set = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Hang up on clients still holding a keep-alive connection."""
        with self._open_lock:
            open_now = list(self._open)
            self._open.clear()
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()


def _make_handler(api: TeacherAPI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "CourseTeacherAPI/1.0"
        timeout = 30

        def log_message(self, format, *args):  # noqa: A002
            if not api.quiet:
                sys.stderr.write("teacher-api: " + (format % args) + "\n")

        def _send(self, status: int, payload: dict, headers: dict | None = None):
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _auth(self):
            header = self.headers.get("Authorization", "")
            key = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if not key:
                raise APIError(401, "You didn't provide an API key. Send it in the "
                               "Authorization header as 'Bearer YOUR_KEY'.",
                               code="invalid_api_key")
            policy = api.keys.get(key)
            if policy is None:
                shown = key[:6] + "*" * max(0, len(key) - 10) + key[-4:] if len(key) > 10 \
                    else "*" * len(key)
                raise APIError(401, f"Incorrect API key provided: {shown}.",
                               code="invalid_api_key")
            return key, policy

        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            try:
                if path in ("", "/health"):
                    return self._send(200, {"status": "ok", "model": api.model_name})
                if path == "/v1/models":
                    self._auth()
                    return self._send(200, {"object": "list", "data": [
                        {"id": api.model_name, "object": "model", "created": 0,
                         "owned_by": "dark-knowledge-course"}]})
                raise APIError(404, f"Unknown URL: GET {path}.", code="unknown_url")
            except APIError as error:
                self._send(error.status, error.body(), error.headers)

        def do_POST(self):  # noqa: N802
            start = time.perf_counter()
            path = self.path.split("?")[0].rstrip("/")
            key = policy = None
            log, headers = {}, {}
            status, error_code = 200, None
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                if path not in _ALLOWED:
                    raise APIError(404, f"Unknown URL: POST {path}.", code="unknown_url")
                key, policy = self._auth()
                try:
                    body = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as error:
                    raise APIError(400, f"We could not parse the JSON body of your request "
                                   f"({error}). Send a JSON object.", code="invalid_json")
                if not isinstance(body, dict):
                    raise APIError(400, "The request body must be a JSON object.",
                                   code="invalid_json")
                payload, log = api.handle(path, key, policy, body)
            except APIError as error:
                status, error_code = error.status, error.code
                payload, headers = error.body(), error.headers
            except Exception:  # never show a traceback to the client
                status, error_code = 500, "server_error"
                traceback.print_exc(file=sys.stderr)
                payload = APIError(500, "The server had an error while processing your request.",
                                   type="server_error", code="server_error").body()
            # log first, then answer: once a client has its response, its log row exists
            if path in _ALLOWED:
                row = dict(log, ts=time.time(), request_id=payload.get("id") or uuid.uuid4().hex,
                           key_name=policy.name if policy else None,
                           key_hash=hashlib.sha256(key.encode()).hexdigest()[:12]
                           if key else None, endpoint=path, model=api.model_name,
                           status=status, error_code=error_code,
                           latency_ms=1000 * (time.perf_counter() - start))
                try:
                    api.log.write(row)
                except Exception:
                    traceback.print_exc(file=sys.stderr)
            self._send(status, payload, headers)

    return Handler


def serve(model, tokenizer=None, **kwargs) -> TeacherAPI:
    """Start a teacher API for ``model`` (a causal LM, or a name for ``load_teacher``).

    Returns the running :class:`TeacherAPI`; use it as a context manager so that it stops
    (and frees its port) when the block ends.
    """
    if isinstance(model, str):
        name = model
        try:
            from .teachers import load_teacher
        except ImportError as error:
            raise RuntimeError("Serving a teacher by name needs course_utils.teachers.") from error
        model, tokenizer = load_teacher(name)
        kwargs.setdefault("model_name", name)
    if tokenizer is None:
        raise TypeError("serve(model, tokenizer): pass the model's tokenizer too.")
    return TeacherAPI(model, tokenizer, **kwargs).start()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for tests)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _load_for_cli(name: str):
    """A course teacher by name (``course_utils.teachers``), else a saved model folder or a
    Hub name for ``from_pretrained``."""
    try:
        from .teachers import load_teacher
    except ImportError:
        load_teacher = None
    if load_teacher is not None and not Path(name).exists():
        try:
            return load_teacher(name)
        except (KeyError, ValueError):
            pass
    from transformers import AutoModelForCausalLM, AutoTokenizer
    return AutoModelForCausalLM.from_pretrained(name), AutoTokenizer.from_pretrained(name)


def main(argv=None) -> int:
    """``course serve MODEL``: serve a model on 127.0.0.1 until Ctrl-C."""
    import argparse
    parser = argparse.ArgumentParser(
        prog="course serve", description="Serve a causal LM behind an OpenAI-compatible API "
        "on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("model", help="a course teacher name, a saved model folder, or a Hub "
                        "name (online)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--model-name", default=None, help="the name clients pass as `model`")
    parser.add_argument("--key", default=None, help="the API key (default: a random one)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute per key")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute per key")
    parser.add_argument("--price", type=float, default=0.002, help="dollars per 1K tokens")
    parser.add_argument("--log", default=None, help="SQLite request log (default: in the cache)")
    args = parser.parse_args(argv)
    try:
        model, tokenizer = _load_for_cli(args.model)
    except Exception as error:  # a clear message, not a traceback
        print(f"course serve: could not load {args.model!r}: {error}", file=sys.stderr)
        return 2
    keys = None
    if args.key:
        keys = {args.key: KeyPolicy("default", rpm=args.rpm, tpm=args.tpm)}
    try:
        api = TeacherAPI(model, tokenizer, model_name=args.model_name or args.model, keys=keys,
                         rpm=args.rpm, tpm=args.tpm, price_per_1k=args.price,
                         log_path=args.log, port=args.port, quiet=False)
        api.start()
    except OSError as error:
        print(f"course serve: cannot listen on port {args.port}: {error}", file=sys.stderr)
        return 2
    print(f"API key: {api.api_key}\nPress Ctrl-C to stop.", flush=True)
    api.serve_forever()
    print("Stopped.")
    return 0
