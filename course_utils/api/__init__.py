"""A teacher behind an OpenAI-compatible HTTP API, on this machine (taught in lesson 07).

Lesson 07 distils a model the learner can only reach through an API, exactly as a lab with
API access to a stronger model would. This package is that API: a real HTTP server on
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

The parts, one module each:

* :mod:`.protocol`   -- request validation, OpenAI error shapes, response JSON;
* :mod:`.keys`       -- API keys and their per-minute limits (:class:`KeyRing`);
* :mod:`.clock`      -- the wall clock, or a simulated one (:class:`SimClock`);
* :mod:`.log`        -- the SQLite request log and :func:`read_log`;
* :mod:`.generation` -- prompt to token ids, sampling with log-probabilities, stop sequences;
* :mod:`.server`     -- the HTTP server, :class:`TeacherAPI` and :func:`serve`.

Lesson 09 adds accounts (:meth:`TeacherAPI.add_account`, one key each), key revocation
(:meth:`TeacherAPI.revoke`: ``403``, logged) and a simulated clock (:mod:`.clock`) that rate
limits and log rows follow.

Where Part III's provider options go: key revocation in :class:`~.keys.KeyRing`
(``authenticate``), the watermark in :func:`~.generation.next_token` (the one place a token
is chosen), output defences in :meth:`~.server.TeacherAPI.complete` (the one place that
decides what leaves the server). Lesson 11's defences arrive as ``serve(..., defence=...)``,
a :class:`course_utils.defences.Defence`: off by default, and a server with an inactive one
answers bit for bit as one without.
"""
from .clock import SimClock, WallClock
from .keys import KeyPolicy, KeyRing
from .log import read_log
from .protocol import MAX_N, MAX_TOP_LOGPROBS, APIError
from .server import TeacherAPI, running_servers, serve, stop_all

__all__ = ["KeyPolicy", "KeyRing", "SimClock", "WallClock", "TeacherAPI", "serve", "read_log", "APIError",
           "MAX_TOP_LOGPROBS", "MAX_N", "running_servers", "stop_all"]
