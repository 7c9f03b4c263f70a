"""Questions of lesson 07 (distilling a model through its API): a bill, a retry loop, prompts."""
from __future__ import annotations

import random
import time

from ..harvest import bill as _bill
from .core import (CustomProblem, FunctionProblem, Incorrect, NotAttempted, ____, call_learner,
                   run_learner)

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
def _rate_error(wait_ms=None, wait_s=None):
    import httpx
    import openai
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    headers = {}
    if wait_ms is not None:
        headers["retry-after-ms"] = str(wait_ms)
    if wait_s is not None:
        headers["retry-after"] = str(wait_s)
    response = httpx.Response(429, headers=headers, request=request)
    return openai.RateLimitError("Rate limit reached", response=response,
                                 body={"message": "Rate limit reached"})


def _bad_request():
    import httpx
    import openai
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return openai.BadRequestError("bad", response=httpx.Response(400, request=request), body=None)


# What the server asks for, 429 after 429, then an answer. The waits differ from one 429 to the
# next (long then short, milliseconds then whole seconds), so that only a loop that reads the
# headers fits: no fixed wait and no blind back-off lands inside every window.
_SCENARIOS = [
    [{"wait_ms": 500, "wait_s": 1}, {"wait_ms": 40, "wait_s": 1}],
    [{"wait_ms": 30, "wait_s": 1}, {"wait_s": 1}],
]
_SLACK = 0.4    # seconds a wait may overrun what was asked: a busy machine sleeps late (0.25 s
#                 failed right answers under load); every wrong answer overruns by 0.5 s or more


def _asked(wait: dict) -> float:
    return wait["wait_ms"] / 1000 if "wait_ms" in wait else float(wait["wait_s"])


def _headers_text(wait: dict) -> str:
    return ", ".join(f"`{k}: {v}`" for k, v in (("retry-after-ms", wait.get("wait_ms")),
                                                  ("retry-after", wait.get("wait_s"))) if v is not None)


def _check_retry(with_retries):
    import openai
    if not callable(with_retries):
        raise Incorrect("`with_retries` should be a function.")
    for waits in _SCENARIOS:
        calls, times = [], []

        def flaky(**request):
            calls.append(request)
            if len(calls) <= len(waits):
                error = _rate_error(**waits[len(calls) - 1])
                times.append(time.monotonic())   # the 429 leaves now: building it is not waiting
                raise error
            times.append(time.monotonic())
            return "the answer"

        budget = sum(_asked(w) for w in waits) + 2.0
        try:
            out = run_learner(with_retries, "with_retries", (flaky,), {"max_retries": 5, "model": "m",
                                                                       "prompt": "p"}, time_limit=budget)
        except openai.RateLimitError:
            raise Incorrect(f"`with_retries` let a 429 through after {len(calls)} call(s) with "
                            f"max_retries=5: it must catch `openai.RateLimitError`, wait, and "
                            "call again.") from None
        except (Incorrect, NotAttempted):   # a verdict already (e.g. timed out)
            raise
        except Exception as error:  # noqa: BLE001
            raise Incorrect(f"`with_retries(create, max_retries=5, ...)` raised "
                            f"{type(error).__name__}: {error}") from None
        if out is None:
            raise Incorrect("`with_retries` returned None: return what `create` returns.")
        if type(out) is not str or out != "the answer":
            raise Incorrect("`with_retries` should return what `create(**request)` returns.")
        if len(calls) != len(waits) + 1:
            raise Incorrect(f"`create` failed {len(waits)} times with 429 and then succeeded, so "
                            f"it should be called {len(waits) + 1} times; it was called "
                            f"{len(calls)} times.")
        if any(c != {"model": "m", "prompt": "p"} for c in calls):
            raise Incorrect("pass the request's keyword arguments on to `create` unchanged.")
        for k, wait in enumerate(waits):
            waited, asked = times[k + 1] - times[k], _asked(wait)
            nth = ("1st", "2nd", "3rd")[k]
            if waited < min(0.02, asked * 0.5):
                raise Incorrect(f"`with_retries` retried without waiting ({waited:.3f} s) after "
                                f"the {nth} 429, where the server asked for {asked:g} s "
                                f"({_headers_text(wait)}). Sleep before trying again, or you "
                                "only earn more 429s.")
            if waited < asked * 0.95:
                raise Incorrect(f"after the {nth} 429 the server asked for {asked:g} s "
                                f"({_headers_text(wait)}) and `with_retries` waited only "
                                f"{waited:.2f} s: read the wait from the error's headers "
                                "(`retry-after-ms` in milliseconds, else `retry-after` in "
                                "seconds) and sleep that long before trying again.")
            if waited > asked + _SLACK:
                raise Incorrect(f"after the {nth} 429 the server asked for {asked:g} s "
                                f"({_headers_text(wait)}) but `with_retries` waited "
                                f"{waited:.2f} s: wait what the server asks "
                                "(`retry-after-ms` first, it is the more precise), not a "
                                "fixed or growing delay of your own.")
    # never retry what a retry cannot fix
    bad_calls = []

    class _SecondCall(Exception):
        """Ends a loop that retries the 400 (so the check need not wait for it)."""

    def broken(**request):
        bad_calls.append(1)
        if len(bad_calls) > 1:
            raise _SecondCall()
        raise _bad_request()

    try:
        run_learner(with_retries, "with_retries", (broken,), {"max_retries": 5}, time_limit=3.0)
    except openai.BadRequestError:
        pass
    except (Incorrect, NotAttempted):
        if len(bad_calls) > 1:
            raise Incorrect("`with_retries` retried a 400 (bad request): only 429s are worth "
                            "retrying.") from None
        raise
    except Exception as error:  # noqa: BLE001
        if len(bad_calls) > 1:
            raise Incorrect("`with_retries` retried a 400 (bad request): only 429s are worth "
                            "retrying.") from None
        raise Incorrect(f"A 400 (bad request) should reach the caller as it is, not as "
                        f"{type(error).__name__}.") from None
    else:
        if len(bad_calls) > 1:
            raise Incorrect("`with_retries` retried a 400 (bad request): only 429s are worth "
                            "retrying.")
        raise Incorrect("A 400 (bad request) was swallowed: only rate limits are worth retrying.")
    # give up in the end
    for max_retries in (3, 0):
        stubborn_calls = []

        def stubborn(**request):
            stubborn_calls.append(1)
            raise _rate_error(wait_ms=1, wait_s=1)

        try:
            run_learner(with_retries, "with_retries", (stubborn,), {"max_retries": max_retries},
                        time_limit=2.0)
        except openai.RateLimitError:
            pass
        except (Incorrect, NotAttempted):   # a verdict already (e.g. timed out)
            raise
        except Exception as error:  # noqa: BLE001
            raise Incorrect(f"After the last retry, re-raise the RateLimitError (got "
                            f"{type(error).__name__}).") from None
        else:
            raise Incorrect("When every try fails, `with_retries` must re-raise the last "
                            "RateLimitError instead of returning.")
        if len(stubborn_calls) != max_retries + 1:
            raise Incorrect(f"With max_retries={max_retries}, `create` should be called "
                            f"1 + {max_retries} = {max_retries + 1} times before giving up; it "
                            f"was called {len(stubborn_calls)} times.")


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
