"""Call a learner's function in the sandbox, as the learner's uid. Two jobs:

* ``{"imports", "source", "name", "cases", "out"}``: call the function on each case and write
  one entry per case: ``{"ok": encoded result}`` or ``{"error": {"type", "message", "line",
  "text"}}``. The judge replays these results to the problem's check, so the learner's code
  never runs in the judge's process.
* ``{"imports", "batch": {key: {"source", "name", "cases"}}, "out"}``: the same for several
  functions in one process (one start-up, not one per function), each defined in a namespace
  of its own and under its own time limit; ``{"batch": {key: results}}`` is written again after
  each function, so the ones that finished count even if a later one never ends.
* ``{"imports", "module", "problem", "answers", "out"}``: run problem ``problem``'s check here,
  with the learner's functions defined from their source (for checks that pass live objects
  to the function); write ``{"outcome": {"status", "message"}}``.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback


def _write(spec: dict, data: dict) -> None:
    with open(spec["out"] + ".tmp", "w") as f:
        f.write(json.dumps(data))
    os.replace(spec["out"] + ".tmp", spec["out"])


def check_here(spec: dict) -> None:
    import importlib
    from .encoding import FunctionAnswer, decode

    module = importlib.import_module(spec["module"])
    problem = getattr(module, spec["problem"])
    learner: dict = {"__name__": "__learner__"}
    exec(compile(spec["imports"], "<lesson imports>", "exec"), learner)
    namespace = {}
    for var, data in spec["answers"].items():
        value = decode(data)
        if isinstance(value, FunctionAnswer):
            try:
                exec(compile(value.source, "<your code>", "exec"), learner)
                value = learner.get(value.name)
            except BaseException as error:  # noqa: BLE001 - the learner's code
                _write(spec, {"outcome": {"status": "incorrect", "message":
                              f"your code for `{var}` could not be defined: "
                              f"{type(error).__name__}: {error}"[:1000]}})
                return
        namespace[var] = value
    outcome = problem.evaluate(namespace)
    _write(spec, {"outcome": {"status": outcome.status, "message": outcome.message}})


def warm_up_torch() -> None:
    """A process's first backward pass and optimizer step take seconds (lazy start-up): take
    them here, before the learner's time limit starts counting."""
    import torch
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([weight], lr=0.1)
    (weight * 2).sum().backward()
    optimizer.step()


def main() -> None:
    spec = json.loads(sys.stdin.read())
    warm_up_torch()
    if "problem" in spec:
        check_here(spec)
        return
    if "batch" in spec:
        done: dict = {}
        for key, item in spec["batch"].items():
            done[key] = call_cases(dict(item, imports=spec["imports"]))
            _write(spec, {"batch": done})
        return
    _write(spec, {"results": call_cases(spec)})


def call_cases(spec: dict) -> list:
    """Define the learner's function (``imports``, ``source``, ``name``) in a fresh namespace
    and call it on each of ``cases``, under one time limit for them all: one entry per case."""
    from .encoding import decode, encode

    results = []
    namespace: dict = {"__name__": "__learner__"}
    fn = None
    setup_error = None
    try:
        exec(compile(spec["imports"], "<lesson imports>", "exec"), namespace)
        exec(compile(spec["source"], "<your code>", "exec"), namespace)
        fn = namespace.get(spec["name"])
        if not callable(fn):
            setup_error = {"type": "NameError", "message": f"name {spec['name']!r} is not defined",
                           "line": 0, "text": ""}
    except BaseException as error:  # noqa: BLE001 - the learner's code
        setup_error = _describe(error, spec["source"])
    from ..exercises.core import TIME_LIMIT, guarded_call
    # The check's time limit covers all its calls of the learner's code, as in check().
    deadline = time.monotonic() + float(spec.get("time_limit") or TIME_LIMIT)
    for case in spec["cases"]:
        if setup_error:
            results.append({"error": setup_error})
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            results.append({"timed_out": True})
            continue
        args = decode(case["args"])
        kwargs = decode(case["kwargs"])
        call = guarded_call(fn, args, kwargs, time_limit=remaining)
        if call["timed_out"]:
            entry = {"timed_out": True}
            deadline = 0.0  # the later calls are not tried: the verdict is in
        elif "error" in call:
            entry = {"error": _describe(call["error"], spec["source"])}
        else:
            try:
                entry = {"ok": encode(call["value"])}
            except BaseException as error:  # noqa: BLE001 - an unencodable result
                entry = {"error": _describe(error, spec["source"])}
        if call["changed"]:  # the judge writes these values back, so its check sees the change
            try:
                entry["after"] = {"args": encode(tuple(args)), "kwargs": encode(dict(kwargs))}
            except BaseException:  # noqa: BLE001
                pass
        results.append(entry)
    return results


def _describe(error: BaseException, source: str) -> dict:
    line, text = 0, ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename == "<your code>":
            line = frame.lineno or 0
            lines = source.split("\n")
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            break
    return {"type": type(error).__name__[:100], "message": str(error)[:500], "line": line,
            "text": text[:200]}


if __name__ == "__main__":
    main()
