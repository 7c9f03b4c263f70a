"""Lesson 07's checks accept the solution and reject the stub and realistic wrong answers."""
import time

import openai
import pytest

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson07 import q1, q2, q3
from course_utils.harvest import max_coverage
from helpers import outcome, status


def bill_for(usage, price_in_per_1k, price_out_per_1k):
    return (usage.prompt_tokens * price_in_per_1k + usage.completion_tokens * price_out_per_1k) / 1000


def test_q1_bill():
    assert status(q1, bill_for=bill_for) == CORRECT
    assert status(q1, bill_for=____) == NOT_ATTEMPTED

    def stub(usage, a, b):
        raise NotImplementedError()
    assert status(q1, bill_for=stub) == NOT_ATTEMPTED
    assert "1K" in outcome(q1, bill_for=lambda u, a, b: u.prompt_tokens * a +
                           u.completion_tokens * b).message
    assert "prompt price" in outcome(q1, bill_for=lambda u, a, b: u.total_tokens * a / 1000).message
    assert "swapped" in outcome(q1, bill_for=lambda u, a, b: (u.prompt_tokens * b +
                                                              u.completion_tokens * a) / 1000).message
    assert status(q1, bill_for=lambda u, a, b: None) == INCORRECT
    assert status(q1, bill_for=lambda u, a, b: u["prompt_tokens"]) == INCORRECT


def with_retries(create, max_retries=5, **request):
    for attempt in range(max_retries + 1):
        try:
            return create(**request)
        except openai.RateLimitError as error:
            if attempt == max_retries:
                raise
            headers = error.response.headers
            wait = float(headers["retry-after-ms"]) / 1000 if headers.get("retry-after-ms") \
                else float(headers.get("retry-after", 1))
            time.sleep(wait)


def test_q2_retry():
    assert status(q2, with_retries=with_retries) == CORRECT, outcome(q2, with_retries=with_retries)
    assert status(q2, with_retries=____) == NOT_ATTEMPTED

    def stub(create, max_retries=5, **request):
        raise NotImplementedError()
    assert status(q2, with_retries=stub) == NOT_ATTEMPTED

    def no_retry(create, max_retries=5, **request):
        return create(**request)
    assert "429" in outcome(q2, with_retries=no_retry).message

    def no_wait(create, max_retries=5, **request):
        for attempt in range(max_retries + 1):
            try:
                return create(**request)
            except openai.RateLimitError:
                if attempt == max_retries:
                    raise
    assert "without waiting" in outcome(q2, with_retries=no_wait).message

    def retries_everything(create, max_retries=5, **request):
        for attempt in range(max_retries + 1):
            try:
                return create(**request)
            except openai.APIStatusError as error:
                if attempt == max_retries:
                    raise
                headers = error.response.headers
                time.sleep(float(headers["retry-after-ms"]) / 1000 if headers.get("retry-after-ms")
                           else float(headers.get("retry-after", 1)))
    assert "400" in outcome(q2, with_retries=retries_everything).message

    def fixed_wait(create, max_retries=5, **request):   # ignores what the server asks
        for attempt in range(max_retries + 1):
            try:
                return create(**request)
            except openai.RateLimitError:
                if attempt == max_retries:
                    raise
                time.sleep(0.25)
    assert "asked for" in outcome(q2, with_retries=fixed_wait).message

    def endless(create, max_retries=5, **request):       # ignores its limit
        while True:
            try:
                return create(**request)
            except openai.RateLimitError:
                time.sleep(0.001)
    assert status(q2, with_retries=endless) in (INCORRECT, "timed out")

    def swallow(create, max_retries=5, **request):
        for attempt in range(max_retries + 1):
            try:
                return create(**request)
            except openai.RateLimitError:
                time.sleep(0.12)
        return "gave up"
    assert status(q2, with_retries=swallow) == INCORRECT


def test_q3_coverage():
    assert status(q3, coverage_prompts=max_coverage) == CORRECT
    assert status(q3, coverage_prompts=____) == NOT_ATTEMPTED
    assert status(q3, coverage_prompts=lambda c, n: c[:n]) == INCORRECT   # just random order
    assert "repeated" in outcome(q3, coverage_prompts=lambda c, n: [c[0]] * n).message
    longest = lambda c, n: sorted(c, key=len, reverse=True)[:n]  # noqa: E731
    assert status(q3, coverage_prompts=longest) == INCORRECT
    assert status(q3, coverage_prompts=lambda c, n: max_coverage(c, n - 1)) == INCORRECT
