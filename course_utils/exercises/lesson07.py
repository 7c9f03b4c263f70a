"""Questions of lesson 07 (distilling a model through its API): a bill, a retry loop, prompts."""
from __future__ import annotations

import random
import time

from ..harvest import bill as _bill
from .core import CustomProblem, FunctionProblem, Incorrect, NotAttempted, ____, call_learner

__all__ = ["q1", "q2", "q3", "coverage", "____"]


# --------------------------------------------------------------------------------------
# q1: the bill
# --------------------------------------------------------------------------------------
def _usage(prompt, completion):
    from openai.types import CompletionUsage
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion,
                           total_tokens=prompt + completion)


def _cases():
    return [((_usage(p, c), pi, po), {}) for p, c, pi, po in
            [(1000, 500, 0.0025, 0.01), (12, 48, 0.15, 0.6), (3000, 0, 0.5, 1.5), (7, 913, 1.0, 4.0)]]


q1 = FunctionProblem(
    name="q1", var="bill_for", reference=_bill, cases=_cases, rtol=1e-9, atol=1e-12,
    mistakes=[
        (lambda u, pi, po: u.total_tokens * pi / 1000,
         "you priced every token at the prompt price; completion tokens have their own (higher) price."),
        (lambda u, pi, po: u.prompt_tokens * pi + u.completion_tokens * po,
         "the prices are per **1K** tokens: divide by 1000."),
        (lambda u, pi, po: (u.prompt_tokens * po + u.completion_tokens * pi) / 1000,
         "the two prices are swapped: the first is for prompt (input) tokens."),
    ],
    hints=["`usage.prompt_tokens` and `usage.completion_tokens` are the two counts.",
           "dollars = (prompt tokens x input price + completion tokens x output price) / 1000"],
    solution="```python\ndef bill_for(usage, price_in_per_1k, price_out_per_1k):\n"
             "    return (usage.prompt_tokens * price_in_per_1k\n"
             "            + usage.completion_tokens * price_out_per_1k) / 1000\n```",
    correct_message="that is how every provider bills: per token, input and output priced apart.",
)


# --------------------------------------------------------------------------------------
# q2: retry on 429
# --------------------------------------------------------------------------------------
def _rate_error(wait_ms):
    import httpx
    import openai
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    headers = {"retry-after-ms": str(wait_ms), "retry-after": "1"}
    response = httpx.Response(429, headers=headers, request=request)
    return openai.RateLimitError("Rate limit reached", response=response,
                                 body={"message": "Rate limit reached"})


def _bad_request():
    import httpx
    import openai
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return openai.BadRequestError("bad", response=httpx.Response(400, request=request), body=None)


def _check_retry(with_retries):
    import openai
    if not callable(with_retries):
        raise Incorrect("`with_retries` should be a function.")
    calls = []

    def flaky(**request):
        calls.append(request)
        if len(calls) <= 2:
            raise _rate_error(120)
        return "the answer"

    start = time.perf_counter()
    try:
        out = with_retries(flaky, max_retries=5, model="m", prompt="p")
    except NotImplementedError:
        raise NotAttempted("`with_retries` still raises NotImplementedError: write its body.")
    except openai.RateLimitError:
        raise Incorrect("`with_retries` let a 429 through on the first try: it must catch "
                        "`openai.RateLimitError`, wait, and call again.") from None
    except Exception as error:  # noqa: BLE001
        raise Incorrect(f"`with_retries(create, max_retries=5, ...)` raised "
                        f"{type(error).__name__}: {error}") from None
    waited = time.perf_counter() - start
    if out is None:
        raise Incorrect("`with_retries` returned None: return what `create` returns.")
    if out != "the answer":
        raise Incorrect("`with_retries` should return what `create(**request)` returns.")
    if len(calls) != 3:
        raise Incorrect(f"`create` failed twice with 429 and then succeeded, so it should be "
                        f"called 3 times; it was called {len(calls)} times.")
    if any(c != {"model": "m", "prompt": "p"} for c in calls):
        raise Incorrect("pass the request's keyword arguments on to `create` unchanged.")
    if waited < 0.2:
        raise Incorrect(f"`with_retries` retried without waiting ({waited:.3f} s in all): the "
                        "server asked for 0.12 s each time (`retry-after-ms`). Sleep before "
                        "trying again, or you only earn more 429s.")
    if waited > 2.5:
        raise Incorrect(f"`with_retries` waited {waited:.1f} s where the server asked for "
                        "2 x 0.12 s: read the `retry-after-ms` header (or `retry-after`).")
    # never retry what a retry cannot fix
    bad_calls = []

    def broken(**request):
        bad_calls.append(1)
        raise _bad_request()

    try:
        with_retries(broken, max_retries=5)
    except openai.BadRequestError:
        pass
    except Exception as error:  # noqa: BLE001
        raise Incorrect(f"A 400 (bad request) should reach the caller as it is, not as "
                        f"{type(error).__name__}.") from None
    else:
        raise Incorrect("A 400 (bad request) was swallowed: only rate limits are worth retrying.")
    if len(bad_calls) != 1:
        raise Incorrect("`with_retries` retried a 400 (bad request): only 429s are worth retrying.")
    # give up in the end
    stubborn_calls = []

    def stubborn(**request):
        stubborn_calls.append(1)
        raise _rate_error(1)

    try:
        with_retries(stubborn, max_retries=3)
    except openai.RateLimitError:
        pass
    except Exception as error:  # noqa: BLE001
        raise Incorrect(f"After the last retry, re-raise the RateLimitError (got "
                        f"{type(error).__name__}).") from None
    else:
        raise Incorrect("When every try fails, `with_retries` must re-raise the last "
                        "RateLimitError instead of returning.")
    if len(stubborn_calls) != 4:
        raise Incorrect(f"With max_retries=3, `create` should be called 1 + 3 = 4 times before "
                        f"giving up; it was called {len(stubborn_calls)} times.")


q2 = CustomProblem(
    vars=["with_retries"], checker=_check_retry, name="q2",
    hints=["`except openai.RateLimitError as error:` catches only 429s.",
           "`error.response.headers.get('retry-after-ms')` (milliseconds) or `'retry-after'` "
           "(seconds) says how long to wait; `time.sleep` it.",
           "Loop `for attempt in range(max_retries + 1)` and re-raise on the last attempt."],
    solution="```python\ndef with_retries(create, max_retries=5, **request):\n"
             "    for attempt in range(max_retries + 1):\n"
             "        try:\n            return create(**request)\n"
             "        except openai.RateLimitError as error:\n"
             "            if attempt == max_retries:\n                raise\n"
             "            headers = error.response.headers\n"
             "            if headers.get('retry-after-ms'):\n"
             "                wait = float(headers['retry-after-ms']) / 1000\n"
             "            else:\n                wait = float(headers.get('retry-after', 2 ** attempt))\n"
             "            time.sleep(wait)\n```\n"
             "`course_utils.harvest.call_with_retry` is the same loop with a back-off cap.",
    correct_message="your loop waits what the server asks, retries only 429s, and gives up in the end.",
)


# --------------------------------------------------------------------------------------
# q3: a prompt strategy that covers more than random prompts
# --------------------------------------------------------------------------------------
def coverage(prompts) -> int:
    """How many distinct (lower-cased) words a list of prompts contains."""
    return len({w.lower() for p in prompts for w in p.split()})


def _reference_cover(candidates, n):
    from ..harvest import max_coverage
    return max_coverage(candidates, n)


def _check_cover(coverage_prompts):
    from ..harvest import random_snippets
    import pydoc_data.topics as topics
    texts = list(topics.topics.values())
    candidates = random_snippets(texts, 400, seed=7)
    n = 40
    picked = call_learner(coverage_prompts, "coverage_prompts", (list(candidates), n))
    if picked is None:
        raise Incorrect("`coverage_prompts` returned None. Did you forget a `return`?")
    if not isinstance(picked, list) or not all(isinstance(p, str) for p in picked):
        raise Incorrect("`coverage_prompts` should return a list of strings.")
    if len(picked) != n:
        raise Incorrect(f"`coverage_prompts(candidates, {n})` returned {len(picked)} prompts: "
                        f"at equal budget it must pick exactly {n}.")
    if len(set(picked)) != n:
        raise Incorrect("Some prompts are repeated: a repeated prompt buys no new knowledge.")
    if not set(picked) <= set(candidates):
        raise Incorrect("Pick prompts from `candidates`; do not write new ones.")
    rng = random.Random(0)
    random_cov = [coverage(rng.sample(candidates, n)) for _ in range(20)]
    mean_random = sum(random_cov) / len(random_cov)
    got, best = coverage(picked), coverage(_reference_cover(candidates, n))
    if got <= max(random_cov):
        raise Incorrect(f"Your {n} prompts cover {got} distinct words; random picks cover "
                        f"{mean_random:.0f} on average (up to {max(random_cov)}). Prefer prompts "
                        "that bring words not yet covered.")
    if got < 0.9 * best:
        raise Incorrect(f"Your prompts cover {got} distinct words, better than random "
                        f"({mean_random:.0f}) but well short of what a greedy choice reaches. "
                        "Pick, one at a time, the candidate with the most *new* words.")


q3 = CustomProblem(
    vars=["coverage_prompts"], checker=_check_cover, name="q3",
    hints=["Keep a set of the words already covered.",
           "At each step pick the candidate with the most words not in that set (greedy "
           "maximum coverage), then add its words."],
    solution="```python\ndef coverage_prompts(candidates, n):\n"
             "    chosen, seen, left = [], set(), list(dict.fromkeys(candidates))\n"
             "    for _ in range(n):\n"
             "        best = max(left, key=lambda c: len({w.lower() for w in c.split()} - seen))\n"
             "        chosen.append(best)\n        seen |= {w.lower() for w in best.split()}\n"
             "        left.remove(best)\n    return chosen\n```",
    correct_message="greedy coverage is the classic approximation to maximum coverage "
                    "(within 1 - 1/e of the best).",
)
