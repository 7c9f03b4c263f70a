"""Questions of lesson 08 (reasoning distillation): parse the answer, verify it, filter traces."""
from __future__ import annotations

import re

from ..reasoning import filter_verified as _filter
from ..reasoning import parse_answer as _parse
from ..reasoning import verify as _verify
from .core import CustomProblem, FunctionProblem, Incorrect, ____, call_learner

__all__ = ["q1", "q2", "q3", "____"]


_PARSE_CASES = [
    ("7+5+0=12;4+8+1=13;3+2+1=06;>0632",), (">0632",), ("7+5+0=12;4+8+1=13;>",),
    ("7+5+0=12;4+8+1=13;3+2",), ("1+1+0=02;>1;>02",), (">01234\n",), ("",),
    ("9+9+0=18;9+9+1=19;>198",), ("garbage 12",),
    # malformed and unfinished text
    (">",), ("12>",), (">12abc",), ("1+1+0=02;>02;1+2",), ("  >0632  ",), ("5+5+0=10;>010\n\n",),
    ("4+4+0=08;answer: 8",),
]

_PARSE_MISTAKES = [
    (lambda t: int(re.findall(r"\d+", t)[-1]) if re.findall(r"\d+", t) else None,
     "you take the last number anywhere in the text; an unfinished trace (no `>` at the end) "
     "has no answer yet, so return None."),
    (lambda t: int(t.split(">")[1]) if ">" in t and t.split(">")[1].strip().isdigit() else None,
     "with several `>` the final answer is after the *last* one."),
    (lambda t: int(re.findall(r">(\d+)", t)[-1]) if re.findall(r">(\d+)", t) else None,
     "you take the digits after the last `>` even when the text goes on after them (or has "
     "other characters after the number): the answer counts only at the very end of the text."),
]


def _check_parse(parse_answer):
    if not callable(parse_answer):
        raise Incorrect("`parse_answer` should be a function.")
    got = []
    for (text,) in _PARSE_CASES:
        out = call_learner(parse_answer, "parse_answer", (text,))
        if out is not None and type(out) is not int:
            raise Incorrect(f"`parse_answer({text!r})` returned {out!r}: return an int (or None).")
        got.append(out)
    for wrong, message in _PARSE_MISTAKES:
        if all(wrong(t) == g for (t,), g in zip(_PARSE_CASES, got)):
            raise Incorrect(message)
    for (text,), out in zip(_PARSE_CASES, got):
        want = _parse(text)
        if out != want:
            if want is None:
                raise Incorrect(f"`parse_answer({text!r})` returned {out!r}, but this text has "
                                "no final answer: return None.")
            raise Incorrect(f"`parse_answer({text!r})` returned {out!r}, not the number after "
                            "the last `>`.")


q1 = CustomProblem(
    vars=["parse_answer"], checker=_check_parse, name="q1",
    hints=["The answer is the digits after the last `>`, at the end of the text.",
           "`re.search(r'>(\\d+)\\s*$', text.strip())`; return None when it does not match."],
    solution="```python\ndef parse_answer(text):\n    match = re.search(r'>(\\d+)\\s*$', text.strip())\n"
             "    return int(match.group(1)) if match else None\n```",
    correct_message="a trace that never reaches `>` has no answer: the verifier will reject it.",
)


_VERIFY_CASES = [
    ("347+285=", "7+5+0=12;4+8+1=13;3+2+1=06;>0632"), ("347+285=", ">0632"),
    ("347+285=", "7+5+0=12;4+8+1=13;3+2+1=06;>0631"), ("347+285=", "7+5+0=12;4+8+1=13;3+2+1=06;"),
    ("999+001=", ">1000"), ("12+34=", ">046"), ("12+34=", ">46"), ("12+34=", ">64"),
    ("12+34=", "2+4+0=06;1+3+0=04;>064"), ("347+285=", ">5632"), ("12+34=", ">146"),
    # malformed or unfinished completions, and a trace that ends on the sum without `>`
    ("12+34=", ""), ("12+34=", ">"), ("12+34=", ">046\n"), ("12+34=", "2+4+0=06;1+3+0=04;46"),
    ("12+34=", ">46;1+1"), ("5+5=", ">10"), ("50+50=", ">0100"), ("7+8=", ">15"),
]

q2 = FunctionProblem(
    name="q2", var="verify", reference=_verify, cases=_VERIFY_CASES,
    mistakes=[
        (lambda p, c: _parse(c) is not None,
         "you accept every completion that has an answer, right or wrong: compare it with the sum."),
        (lambda p, c: c.strip().endswith(str(sum(int(x) for x in re.findall(r"\d+", p)))),
         "compare numbers, not strings: `>0632` and 632 are the same answer."),
        (lambda p, c: bool(re.findall(r"\d+", c)) and int(re.findall(r"\d+", c)[-1])
         == sum(int(x) for x in re.findall(r"\d+", p)),
         "you read the last number of the completion even without a final `>`: an unfinished "
         "trace has no answer, so it is not verified."),
        (lambda p, c: _parse(c) is not None and _parse(c) == int(re.findall(r"\d+", p)[0])
         * int(re.findall(r"\d+", p)[1]),
         "compare the answer with the *sum* of the two numbers."),
    ],
    hints=["Read the two numbers from the prompt (`re.fullmatch(r'(\\d+)\\+(\\d+)=', prompt)`).",
           "Use your `parse_answer` (or `course_utils.reasoning.parse_answer`) on the completion "
           "and compare with the true sum; no answer means False."],
    solution="```python\ndef verify(prompt, completion):\n"
             "    a, b = map(int, re.fullmatch(r'(\\d+)\\+(\\d+)=', prompt).groups())\n"
             "    answer = parse_answer(completion)\n"
             "    return answer is not None and answer == a + b\n```",
    correct_message="a verifier is the whole trick of rejection sampling: cheap to run, exact.",
)


def _rows():
    return [
        {"prompt": "12+34=", "completion": "2+4+0=06;1+3+0=04;>064"},
        {"prompt": "12+34=", "completion": "2+4+0=06;1+3+0=04;>046"},
        {"prompt": "12+34=", "completion": "2+4+0=06;1+3+0=04;>046"},
        {"prompt": "55+55=", "completion": "5+5+0=10;5+5+1=10;>100"},
        {"prompt": "55+55=", "completion": "5+5+0=10;5+5+1=11;>110"},
        {"prompt": "90+19=", "completion": "0+9+0=09;9+1+0=10;>109"},
        {"prompt": "70+01=", "completion": "0+1+0=01;7+0+0=07;>071"},
        {"prompt": "70+01=", "completion": ">071"},
    ]


def _rows_shuffled():
    rows = _rows()
    order = [5, 7, 2, 0, 6, 4, 1, 3]
    return [rows[i] for i in order] + [
        {"prompt": "33+44=", "completion": "3+4+0=07;3+4+0=07;>078"},   # no right answer at all
        {"prompt": "33+44=", "completion": ">0"},
        {"prompt": "90+19=", "completion": ">109"},                       # right, but not the first
    ]


def _last_kept(rows):
    return list({r["prompt"]: r for r in rows if _verify(r["prompt"], r["completion"])}.values())


q3 = FunctionProblem(
    name="q3", var="filter_verified", reference=_filter, unordered=True,
    cases=lambda: [((_rows(),), {}), ((_rows_shuffled(),), {}), (([],), {})],
    mistakes=[
        (lambda rows: [r for r in rows if _verify(r["prompt"], r["completion"])],
         "you keep *every* correct sample; keep one per prompt (the first), or prompts the "
         "teacher finds easy would count several times."),
        (lambda rows: list({r["prompt"]: r for r in rows}.values()),
         "you keep one sample per prompt but never check it: that is the unfiltered set."),
        (lambda rows: [r for r in rows if not _verify(r["prompt"], r["completion"])],
         "you kept the wrong answers."),
        (_last_kept, "you keep the *last* verified row of each prompt; keep the *first*."),
    ],
    hints=["Loop over the rows; skip prompts you already kept one for.",
           "Keep a row when `verify(row['prompt'], row['completion'])` is True."],
    solution="```python\ndef filter_verified(rows):\n    kept, done = [], set()\n"
             "    for row in rows:\n"
             "        if row['prompt'] not in done and verify(row['prompt'], row['completion']):\n"
             "            kept.append(row)\n            done.add(row['prompt'])\n"
             "    return kept\n```",
    correct_message="this is rejection sampling: sample several traces, keep one the verifier accepts.",
)
