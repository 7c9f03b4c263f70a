"""The OpenAI wire protocol: request validation, error shapes and response JSON.

Nothing here touches a model or a socket: :func:`parse_request` turns a request body into a
:class:`Request` (or raises :class:`APIError` with the message, ``param`` and ``code`` the
real service would give), and :func:`completion_response` / :func:`logprobs_json` write the
answer in the shapes the official ``openai`` client reads. Taught in lesson 07.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from ..tokenizer import token_bytes

MAX_TOP_LOGPROBS = 20
MAX_N = 16

_COMMON = {"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop",
           "seed", "stream", "user", "presence_penalty", "frequency_penalty", "logit_bias"}
#: The endpoints that generate text, with the request fields each accepts.
ENDPOINTS = {
    "/v1/completions": _COMMON | {"prompt", "logprobs", "echo", "suffix", "best_of"},
    "/v1/chat/completions": _COMMON | {"messages", "logprobs", "top_logprobs", "stream_options",
                                       "response_format", "metadata", "store", "service_tier"},
}


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


def number(body, name, default, lo, hi, integer=False):
    """``body[name]`` checked to be a number (an integer) in ``[lo, hi]``, else ``default``."""
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


@dataclass
class Request:
    """A validated completion request: one or more prompt texts and how to sample them."""
    chat: bool
    prompts: list
    n: int
    temperature: float
    top_p: float
    seed: int | None
    max_tokens: int
    stop: list
    logprobs: bool      # return log-probabilities?
    top_logprobs: int   # how many alternatives per token (0 = none)


def check_messages(messages) -> list:
    """``messages`` checked to be a non-empty list of ``{role, content}`` string objects."""
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of {role, content} objects.",
                       param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or \
                not isinstance(m.get("content"), str):
            raise APIError(400, f"messages[{i}] must be an object with string 'role' and "
                           "'content'.", param=f"messages[{i}]")
    return messages


def _check_model(body, model_name):
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise APIError(400, "You must provide a model parameter.", param="model",
                       code="missing_required_parameter")
    if model != model_name:
        raise APIError(404, f"The model '{model}' does not exist. This server serves "
                       f"'{model_name}'.", param="model", code="model_not_found")


def _stop_list(body) -> list:
    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > 4 or \
            not all(isinstance(s, str) and s for s in stop):
        raise APIError(400, "'stop' must be a string or a list of up to 4 non-empty strings.",
                       param="stop")
    return stop


def _prompts(body) -> list:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return prompt
    raise APIError(400, "'prompt' must be a string or a non-empty list of strings.",
                   param="prompt")


def parse_request(path: str, body: dict, *, model_name: str, context_length: int,
                  max_tokens_default: int, chat_text) -> Request:
    """Validate a request body for ``path``; ``chat_text(messages)`` makes a chat's prompt."""
    chat = path == "/v1/chat/completions"
    unknown = sorted(set(body) - ENDPOINTS[path])
    if unknown:
        raise APIError(400, f"Unrecognized request argument supplied: {unknown[0]}",
                       param=unknown[0], code="unknown_parameter")
    _check_model(body, model_name)
    if body.get("stream"):
        raise APIError(400, "This server does not stream; leave 'stream' unset.",
                       param="stream", code="unsupported_value")
    n = number(body, "n", 1, 1, MAX_N, integer=True)
    temperature = float(number(body, "temperature", 1.0, 0.0, 2.0))
    top_p = float(number(body, "top_p", 1.0, 0.0, 1.0))
    if top_p == 0:
        temperature = 0.0
    seed = number(body, "seed", None, -2**63, 2**63 - 1, integer=True)
    limit_name = "max_completion_tokens" if body.get("max_completion_tokens") is not None \
        else "max_tokens"
    max_tokens = number(body, limit_name, None, 1, context_length, integer=True)
    stop = _stop_list(body)
    if chat:
        prompts = [chat_text(check_messages(body.get("messages")))]
        want_lp = body.get("logprobs") or False
        if not isinstance(want_lp, bool):
            raise APIError(400, "'logprobs' must be true or false.", param="logprobs")
        k = number(body, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS, integer=True)
        if k and not want_lp:
            raise APIError(400, "'top_logprobs' needs 'logprobs' set to true.",
                           param="top_logprobs")
        if max_tokens is None:
            max_tokens = min(256, context_length)
    else:
        prompts = _prompts(body)
        k = number(body, "logprobs", None, 0, MAX_TOP_LOGPROBS, integer=True)
        want_lp = k is not None
        k = k or 0
        if max_tokens is None:
            max_tokens = max_tokens_default
    return Request(chat=chat, prompts=prompts, n=n, temperature=temperature, top_p=top_p,
                   seed=seed, max_tokens=max_tokens, stop=stop, logprobs=want_lp, top_logprobs=k)


def check_context(request: Request, prompt_ids: list, context_length: int) -> None:
    """A 400 ``context_length_exceeded`` when a prompt plus ``max_tokens`` does not fit."""
    for ids in prompt_ids:
        if len(ids) + request.max_tokens > context_length:
            raise APIError(400, f"This model's maximum context length is "
                           f"{context_length} tokens. However, you requested "
                           f"{len(ids) + request.max_tokens} tokens ({len(ids)} in the prompt, "
                           f"{request.max_tokens} for the completion). Please reduce your prompt "
                           "or max_tokens.", param="messages" if request.chat else "prompt",
                           code="context_length_exceeded")


def choice_json(request: Request, index: int, text: str, logprobs, finish_reason: str) -> dict:
    """One entry of ``choices``: a chat message or a completion text."""
    if request.chat:
        return {"index": index, "message": {"role": "assistant", "content": text,
                                            "refusal": None},
                "logprobs": logprobs, "finish_reason": finish_reason}
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}


def completion_response(request: Request, model_name: str, choices: list,
                        prompt_tokens: int, completion_tokens: int) -> dict:
    """The whole response body, with ``usage``."""
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    return {"id": ("chatcmpl-" if request.chat else "cmpl-") + uuid.uuid4().hex[:24],
            "object": "chat.completion" if request.chat else "text_completion",
            "created": int(time.time()), "model": model_name,
            "system_fingerprint": "fp_course", "choices": choices, "usage": usage}


def models_response(model_name: str) -> dict:
    """The body of ``GET /v1/models``."""
    return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0,
                                        "owned_by": "dark-knowledge-course"}]}


def logprobs_json(tokenizer, ids, lps, top, chat: bool, k: int) -> dict:
    """Log-probabilities in the chat shape (``content`` with ``bytes``) or the legacy one."""
    text_of = lambda i: tokenizer.decode([int(i)])  # noqa: E731
    if chat:
        content = []
        for i, lp, alts in zip(ids, lps, top):
            content.append({"token": text_of(i), "logprob": lp,
                            "bytes": list(token_bytes(tokenizer, i)),
                            "top_logprobs": [{"token": text_of(a), "logprob": v,
                                              "bytes": list(token_bytes(tokenizer, a))}
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
