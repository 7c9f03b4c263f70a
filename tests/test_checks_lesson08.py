"""Lesson 08's checks accept the solution and reject the stub and realistic wrong answers."""
import re

from course_utils import reasoning as R
from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson08 import q1, q2, q3
from helpers import outcome, status


def test_q1_parse():
    assert status(q1, parse_answer=R.parse_answer) == CORRECT
    assert status(q1, parse_answer=____) == NOT_ATTEMPTED

    def stub(text):
        raise NotImplementedError()
    assert status(q1, parse_answer=stub) == NOT_ATTEMPTED
    last_number = lambda t: int(re.findall(r"\d+", t)[-1]) if re.findall(r"\d+", t) else None  # noqa: E731
    assert "unfinished" in outcome(q1, parse_answer=last_number).message
    first_gt = lambda t: int(t.split(">")[1]) if ">" in t and t.split(">")[1].strip().isdigit() else None  # noqa: E731
    assert "last" in outcome(q1, parse_answer=first_gt).message
    as_text = lambda t: t.split(">")[-1].strip() or None  # noqa: E731
    assert status(q1, parse_answer=as_text) == INCORRECT


def test_q2_verify():
    assert status(q2, verify=R.verify) == CORRECT
    assert status(q2, verify=____) == NOT_ATTEMPTED
    assert "right or wrong" in outcome(q2, verify=lambda p, c: R.parse_answer(c) is not None).message
    as_string = lambda p, c: c.strip().endswith(str(sum(int(x) for x in re.findall(r"\d+", p))))  # noqa: E731
    assert "numbers, not strings" in outcome(q2, verify=as_string).message
    assert status(q2, verify=lambda p, c: True) == INCORRECT


def test_q3_filter():
    assert status(q3, filter_verified=R.filter_verified) == CORRECT
    assert status(q3, filter_verified=____) == NOT_ATTEMPTED
    every = lambda rows: [r for r in rows if R.verify(r["prompt"], r["completion"])]  # noqa: E731
    assert "one per prompt" in outcome(q3, filter_verified=every).message
    unchecked = lambda rows: list({r["prompt"]: r for r in rows}.values())  # noqa: E731
    assert "never check" in outcome(q3, filter_verified=unchecked).message
    assert status(q3, filter_verified=lambda rows: rows) == INCORRECT


def test_reasoning_task_and_verifier():
    for a, b in R.make_problems(200, 4, seed=0):
        t = R.trace(a, b, 4)
        assert R.parse_answer(t) == a + b and R.verify(R.prompt_of(a, b, 4), t)
        assert R.verify(R.prompt_of(a, b, 4), R.answer_only(a, b, 4))
        assert not R.verify(R.prompt_of(a, b, 4), f">{a + b + 1}")
    tok = R.char_tokenizer()
    text = R.prompt_of(347, 285, 3) + R.trace(347, 285, 3)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tok.decode(ids) == text
    rows = [{"prompt": "12+34=", "completion": ">47"}, {"prompt": "12+34=", "completion": ">46"},
            {"prompt": "12+34=", "completion": ">046"}, {"prompt": "1+1=", "completion": ">3"}]
    assert R.completions_for(rows, "verified") == (["12+34="], [">46"])
    assert R.completions_for(rows, "traces") == (["12+34=", "1+1="], [">47", ">3"])
    assert R.completions_for(rows, "answers") == (["12+34=", "1+1="], [">47", ">3"])
