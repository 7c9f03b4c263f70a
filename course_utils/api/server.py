"""The HTTP server: :class:`TeacherAPI` serves one causal LM on 127.0.0.1.

It ties the other parts together: every request is authenticated and rate-limited by the
:class:`~course_utils.api.keys.KeyRing`, validated by :mod:`~course_utils.api.protocol`,
answered by :mod:`~course_utils.api.generation`, and written to the
:class:`~course_utils.api.log.RequestLog` before the client gets its answer.
Taught in lesson 07.

Part III's output defences go into :meth:`TeacherAPI.complete`, where the generated choices
become the response: the one place that decides what leaves the server (lesson 11's
:class:`course_utils.defences.Defence`).
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..defences import Defence, noise_rng
from . import generation, protocol
from .keys import KeyPolicy, KeyRing
from .log import RequestLog
from .protocol import APIError


class TeacherAPI:
    """An OpenAI-compatible server for one causal LM. See :mod:`course_utils.api`.

    Parameters: ``model``, ``tokenizer`` (transformers); ``model_name`` (what clients pass as
    ``model``); ``keys``: ``{api_key: KeyPolicy}`` (default: one key, ``api_key``, limited by
    ``rpm``/``tpm``); ``price_per_1k`` dollars per 1K tokens (or separate
    ``price_per_1k_prompt``/``price_per_1k_completion``); ``log_path`` for the SQLite log
    (default: a fresh file in the course cache); ``prompt_format`` turns chat messages into
    the model's text (default: the tokenizer's chat template if it has one, else the messages'
    contents joined by newlines, which suits a base model that continues text);
    ``window_s``: the rate-limit window (60 s, as "per minute"); ``clock``: what time it is
    for rate limits and log rows (default the wall clock; a :class:`~.clock.SimClock` in
    lesson 09); ``watermark``: a :class:`course_utils.watermark.Watermark` applied to every
    completion (lesson 10). Its key stays in the server: it is never part of a response, a
    header or the log. ``defence``: a :class:`course_utils.defences.Defence` (lesson 11):
    rounding or noise on the returned log-probabilities, no log-probabilities, a temperature
    floor, antidistillation sampling; None (or an inactive one) changes nothing.
    """

    def __init__(self, model, tokenizer, *, model_name: str = "course-teacher",
                 keys: dict | None = None, rpm: int | None = None, tpm: int | None = None,
                 price_per_1k: float = 0.002, price_per_1k_prompt: float | None = None,
                 price_per_1k_completion: float | None = None, log_path=None,
                 prompt_format=None, max_tokens_default: int = 16, window_s: float = 60.0,
                 host: str = "127.0.0.1", port: int = 0, quiet: bool = True, clock=None,
                 watermark=None, defence=None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self._watermark = watermark
        self._defence = _check_defence(defence, model)
        self.model_name = model_name
        self.clock = clock
        self.key_ring = KeyRing(keys, window_s=window_s, clock=clock)
        if keys is None:
            self.api_key = self.key_ring.add("default", rpm=rpm, tpm=tpm)
        else:
            self.api_key = next(iter(self.key_ring.keys), None)
        self.price_prompt = price_per_1k if price_per_1k_prompt is None else price_per_1k_prompt
        self.price_completion = price_per_1k if price_per_1k_completion is None \
            else price_per_1k_completion
        if log_path is None:
            from ..config import cache_dir
            import secrets
            log_path = cache_dir() / "api_logs" / f"requests-{time.strftime('%Y%m%d-%H%M%S')}-" \
                f"{secrets.token_hex(3)}.sqlite"
        self.log_path = Path(log_path)
        self.log = RequestLog(self.log_path)
        self.prompt_format = prompt_format
        self.max_tokens_default = max_tokens_default
        self.host, self._port, self.quiet = host, port, quiet
        self._model_lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        ctx = getattr(model.config, "n_positions", None) or \
            getattr(model.config, "max_position_embeddings", None) or 1024
        self.context_length = int(ctx)

    # ---- keys and prices ------------------------------------------------------------
    @property
    def keys(self) -> dict[str, KeyPolicy]:
        """``{api_key: KeyPolicy}`` of every key this server accepts."""
        return self.key_ring.keys

    @property
    def window_s(self) -> float:
        return self.key_ring.window_s

    def add_key(self, name: str, rpm: int | None = None, tpm: int | None = None) -> str:
        """Create a new API key with its own limits; returns the key."""
        return self.key_ring.add(name, rpm=rpm, tpm=tpm)

    def add_account(self, name: str, rpm: int | None = None, tpm: int | None = None) -> str:
        """Open an account (one key, its own limits); returns its key. Taught in lesson 09."""
        return self.key_ring.add_account(name, rpm=rpm, tpm=tpm)

    def accounts(self):
        """The accounts (keys) as a DataFrame: name, masked key, limits, revoked."""
        import pandas as pd
        return pd.DataFrame(self.key_ring.accounts())

    def revoke(self, key_or_name: str, reason: str = "extraction of model outputs") -> str:
        """Revoke an account's key: its requests get ``403`` (and a log row). Lesson 09."""
        return self.key_ring.revoke(key_or_name, reason)

    def now(self) -> float:
        """The server's time: its ``clock`` if it has one, else the wall clock."""
        return self.clock() if self.clock is not None else time.time()

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
        marked = ", watermarked" if self._watermark is not None else ""
        defended = ", defended" if self.defended else ""
        return f"TeacherAPI({self.model_name!r}, {where}{marked}{defended})"

    @property
    def defended(self) -> bool:
        """Whether an output defence is on (lesson 11)."""
        return self._defence is not None and self._defence.active

    @property
    def watermarked(self) -> bool:
        """Whether completions carry the provider's watermark (the key itself is not shown)."""
        return self._watermark is not None

    # ---- the model ------------------------------------------------------------------
    def generate(self, prompt_ids: list[int], *, max_tokens: int, temperature: float,
                 top_p: float, n: int, top_k_logprobs: int, stop: list[str], seed: int | None):
        """Sample ``n`` continuations; returns per choice (ids, logprobs, top, finish_reason)."""
        with self._model_lock:
            nudge = self._defence.nudge() if self._defence is not None else None
            return generation.generate(self.model, self.tokenizer, prompt_ids,
                                       max_tokens=max_tokens, temperature=temperature,
                                       top_p=top_p, n=n, top_k_logprobs=top_k_logprobs,
                                       stop=stop, seed=seed, context_length=self.context_length,
                                       watermark=self._watermark, nudge=nudge)

    # ---- the endpoints ----------------------------------------------------------------
    def handle(self, path: str, key: str, policy: KeyPolicy, body: dict) -> tuple[dict, dict]:
        """Answer one request; returns (response JSON, log fields)."""
        request = protocol.parse_request(
            path, body, model_name=self.model_name, context_length=self.context_length,
            max_tokens_default=self.max_tokens_default,
            chat_text=lambda m: generation.chat_text(self.tokenizer, m, self.prompt_format))
        self.refuse(request)
        encoded = [generation.prompt_ids(self.tokenizer, p) for p in request.prompts]
        protocol.check_context(request, encoded, self.context_length)
        prompt_tokens = sum(len(e) for e in encoded)
        admitted = self.key_ring.admit(
            key, policy, prompt_tokens + request.max_tokens * request.n * len(encoded))
        choices, texts, completion_tokens = self.complete(request, encoded)
        self.key_ring.charge(admitted, prompt_tokens + completion_tokens)  # what was really used
        response = protocol.completion_response(request, self.model_name, choices,
                                                prompt_tokens, completion_tokens)
        log = dict(n=request.n, max_tokens=request.max_tokens, temperature=request.temperature,
                   top_logprobs=request.top_logprobs, prompt_tokens=prompt_tokens,
                   completion_tokens=completion_tokens,
                   cost_usd=self.cost(prompt_tokens, completion_tokens),
                   prompt=json.dumps(request.prompts if len(request.prompts) > 1
                                     else request.prompts[0]),
                   completion=json.dumps(texts if len(texts) > 1 else texts[0]))
        return response, log

    def refuse(self, request: protocol.Request) -> None:
        """A 400 for a request the output defence does not answer (log-probabilities from a
        top-1-only server), before it is counted against the key's limits."""
        message = self._defence.refusal(request.logprobs) if self._defence is not None else None
        if message:
            raise APIError(400, message, param="logprobs", code="unsupported_parameter")

    def complete(self, request: protocol.Request, encoded: list) -> tuple[list, list, int]:
        """Generate every choice of a request: (choices JSON, texts, completion tokens).

        The output defence acts here (lesson 11): the temperature floor and antidistillation
        on the sampling, rounding and noise on the log-probabilities that are returned."""
        k = request.top_logprobs
        defence = self._defence
        temperature = request.temperature if defence is None \
            else defence.temperature(request.temperature)
        choices, texts, completion_tokens = [], [], 0
        for p_index, ids in enumerate(encoded):
            results = self.generate(ids, max_tokens=request.max_tokens,
                                    temperature=temperature, top_p=request.top_p,
                                    n=request.n, top_k_logprobs=k if request.logprobs else 0,
                                    stop=request.stop,
                                    seed=None if request.seed is None else request.seed + p_index)
            for j, (out, lps, top, reason) in enumerate(results):
                completion_tokens += len(out)
                text, out, lps, top = generation.finish_text(self.tokenizer, out, lps, top,
                                                             request.stop)
                texts.append(text)
                index = p_index * request.n + j
                if defence is not None and request.logprobs:
                    lps, top = defence.logprobs(out, lps, top, noise_rng(request.seed, index))
                lp_json = protocol.logprobs_json(self.tokenizer, out, lps, top, request.chat, k) \
                    if request.logprobs else None
                choices.append(protocol.choice_json(request, index, text, lp_json, reason))
        return choices, texts, completion_tokens


def _check_defence(defence, model):
    if defence is None:
        return None
    if not isinstance(defence, Defence):
        raise TypeError(f"defence must be a course_utils.defences.Defence, not "
                        f"{type(defence).__name__}.")
    if defence.antidistill != 0:
        from ..antidistill import check_proxy_fits
        check_proxy_fits(defence.proxy, model)
    return defence


_RUNNING: set = set()


def running_servers() -> list[TeacherAPI]:
    """The teacher APIs started in this process and not yet stopped."""
    return list(_RUNNING)


def stop_all() -> None:
    """Stop every teacher API this process started (also run at exit)."""
    for server in list(_RUNNING):
        server.stop()


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


def _read_json(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise APIError(400, f"We could not parse the JSON body of your request "
                       f"({error}). Send a JSON object.", code="invalid_json")
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _make_handler(api: TeacherAPI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True   # headers and body leave at once (no 40 ms ACK stall)
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

        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            try:
                if path in ("", "/health"):
                    return self._send(200, {"status": "ok", "model": api.model_name})
                if path == "/v1/models":
                    api.key_ring.authenticate(self.headers.get("Authorization", ""))
                    return self._send(200, protocol.models_response(api.model_name))
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
                if path not in protocol.ENDPOINTS:
                    raise APIError(404, f"Unknown URL: POST {path}.", code="unknown_url")
                key, policy = api.key_ring.authenticate(self.headers.get("Authorization", ""))
                payload, log = api.handle(path, key, policy, _read_json(raw))
            except APIError as error:
                status, error_code = error.status, error.code
                payload, headers = error.body(), error.headers
                key = getattr(error, "key", key)          # a revoked key: log whose it was
                policy = getattr(error, "policy", policy)
            except Exception:  # never show a traceback to the client
                status, error_code = 500, "server_error"
                traceback.print_exc(file=sys.stderr)
                payload = APIError(500, "The server had an error while processing your request.",
                                   type="server_error", code="server_error").body()
            # log first, then answer: once a client has its response, its log row exists
            if path in protocol.ENDPOINTS:
                row = dict(log, ts=api.now(), request_id=payload.get("id") or uuid.uuid4().hex,
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


def load_model(name: str):
    """``(model, tokenizer)`` for a course teacher name (:func:`course_utils.teachers.load_teacher`),
    else a saved model folder or a Hub name for ``from_pretrained``."""
    from ..teachers import load_teacher
    if not Path(name).exists():
        try:
            return load_teacher(name)
        except (KeyError, ValueError):
            pass
    from transformers import AutoModelForCausalLM, AutoTokenizer
    return AutoModelForCausalLM.from_pretrained(name), AutoTokenizer.from_pretrained(name)


def serve(model, tokenizer=None, **kwargs) -> TeacherAPI:
    """Start a teacher API for ``model`` (a causal LM, or a name for ``load_teacher``).

    Returns the running :class:`TeacherAPI`; use it as a context manager so that it stops
    (and frees its port) when the block ends. Taught in lesson 07.
    """
    if isinstance(model, str):
        from ..teachers import load_teacher
        name = model
        model, tokenizer = load_teacher(name)
        kwargs.setdefault("model_name", name)
    if tokenizer is None:
        raise TypeError("serve(model, tokenizer): pass the model's tokenizer too.")
    return TeacherAPI(model, tokenizer, **kwargs).start()
