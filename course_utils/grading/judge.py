"""The judge: checks extracted answers in a fresh process the learner's code never ran in.

Run as ``python -m course_utils.grading.judge`` with ``{"module", "hidden", "answers",
"imports", "limits"}`` as JSON on stdin; prints ``{"problems": [...]}`` as JSON. It rebuilds
the answers with :func:`.encoding.decode` (exact types only), evaluates the lesson's
problems -- the same objects and messages as the learner's ``check()`` -- and then the hidden
checks. A function answer is never defined here: it is called in the sandbox on the problem's
cases (see :mod:`.calls`; a submission's function answers share one sandboxed process, each
in a namespace of its own) and its results are replayed to the check.
"""
from __future__ import annotations

import builtins
import importlib
import json
import linecache
import os
import sys

from ..exercises import core
from .encoding import EncodingError, FunctionAnswer, decode, encode, standin


def problems_of(module) -> dict:
    """The graded problems of a question module, by name, in natural order."""
    found = {}
    for name in sorted(vars(module), key=_natural):
        value = getattr(module, name)
        if isinstance(value, core.Problem) and not name.startswith("_"):
            found[name] = value
    return found


def _natural(text: str):
    import re
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def graded(problem) -> bool:
    """Thought questions without an answer variable are not graded."""
    return bool(problem.vars)


def load_hidden(module, source: str) -> dict:
    """Run the lesson's hidden-check cells; return ``{problem name: [Problem, ...]}``."""
    if not source.strip():
        return {}
    namespace = dict(vars(module))
    namespace.update({k: getattr(core, k) for k in ("EqualityProblem", "FunctionProblem",
                                                    "CustomProblem", "ThoughtProblem",
                                                    "MultipartProblem", "Incorrect",
                                                    "NotAttempted", "assert_close", "describe")})
    exec(compile(source, "<hidden checks>", "exec"), namespace)
    hidden = namespace.get("hidden_checks", {})
    if not isinstance(hidden, dict):
        raise TypeError("`hidden_checks` must be a dict {problem name: Problem or list}")
    out = {}
    for name, checks in hidden.items():
        checks = [checks] if isinstance(checks, core.Problem) else list(checks)
        if not all(isinstance(c, core.Problem) for c in checks):
            raise TypeError(f"hidden_checks[{name!r}] must hold Problem objects")
        out[name] = checks
    return out


# ----------------------------------------------------------------------------------------
# Function answers: called in a sandbox, replayed here
# ----------------------------------------------------------------------------------------
def _rebuild_error(info: dict, source: str) -> BaseException:
    name = str(info.get("type", "Exception"))[:100]
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception) or cls is SystemExit):
        cls = type(name if name.isidentifier() else "Exception", (Exception,), {})
    try:
        error = cls(str(info.get("message", "")))
    except Exception:  # noqa: BLE001
        error = type(name if name.isidentifier() else "Exception", (Exception,), {})(info.get("message", ""))
    line = int(info.get("line") or 0)
    if line > 0:  # give the error a frame at the learner's line, as check() reports it
        lines = source.split("\n")
        linecache.cache["<your code>"] = (len(source), None, [l + "\n" for l in lines], "<your code>")
        try:
            exec(compile("\n" * (line - 1) + "raise __error", "<your code>", "exec"),
                 {"__error": error})
        except BaseException as raised:  # noqa: BLE001
            return raised
    return error


def replayable(problem) -> bool:
    """Whether a function problem's cases travel as plain data (then its check runs here)."""
    try:
        encoded = json.dumps([{"args": encode(tuple(a)), "kwargs": encode(dict(k))}
                              for a, k in problem.cases()])
    except (EncodingError, TypeError, ValueError):
        return False
    return '"t": "other"' not in encoded


def checked_in_sandbox(module_name: str, name: str, answers: dict, imports: str, limits: dict,
                       events: list) -> core.Outcome:
    """Run problem ``name``'s check in the sandbox, with the learner's functions defined there.

    For checks that call the learner's function with live objects (a model and its optimizer,
    an API client), which cannot be replayed from data. The check runs in the same process
    as the learner's code, so the report says which questions were checked this way.
    """
    calls = _in_sandbox({"imports": imports, "module": module_name, "problem": name,
                         "answers": answers}, limits, events, f"checking {name}")
    found = calls.get("outcome")
    statuses = {core.CORRECT, core.INCORRECT, core.NOT_ATTEMPTED, core.INFO, core.CHECKER_ERROR,
                getattr(core, "TIMED_OUT", core.INCORRECT)}
    if not isinstance(found, dict) or found.get("status") not in statuses:
        return core.Outcome(core.INCORRECT, "your function did not finish within the time limit, "
                            "or ended the process that checked it.", name)
    events.append(f"{name}: checked in the sandbox, with the function")
    return core.Outcome(found["status"], str(found.get("message", ""))[:4000], name)


def write_back(args: tuple, kwargs: dict, after: dict) -> None:
    """Apply to the check's own arguments the in-place changes the learner's function made
    to them in the sandbox, so the check's guard sees (and names) the change."""
    import numpy as np
    import torch
    try:
        new_args, new_kwargs = decode(after["args"]), decode(after["kwargs"])
    except (EncodingError, ValueError, TypeError, KeyError):
        return
    pairs = list(zip(args, new_args)) + [(kwargs[k], v) for k, v in new_kwargs.items() if k in kwargs]
    for live, new in pairs:
        try:
            if isinstance(live, torch.Tensor) and isinstance(new, torch.Tensor):
                with torch.no_grad():
                    if live.shape == new.shape:
                        live.copy_(new)
                    else:
                        live.data = new
            elif isinstance(live, np.ndarray) and isinstance(new, np.ndarray):
                if live.shape == new.shape:
                    live[...] = new
            elif isinstance(live, list) and isinstance(new, list):
                live[:] = new
            elif isinstance(live, dict) and isinstance(new, dict) or \
                    isinstance(live, set) and isinstance(new, set):
                live.clear()
                live.update(new)
        except (RuntimeError, TypeError, ValueError):
            continue


class SandboxFault(RuntimeError):
    """The sandbox failed while calling a learner's function: not the learner's doing."""


def _in_sandbox(job: dict, limits: dict, events: list, what: str) -> dict:
    """Run a ``calls`` job (see :mod:`.calls`) in the sandbox; what it wrote, as a dict."""
    from .sandbox import next_uid, run_job
    import secrets

    job = dict(job, uid=next_uid(), nonce=secrets.token_hex(8), limits=limits,
               hide=limits.get("hide", []), profile=limits.get("profile"))
    result = run_job("calls", job, timeout=limits["total_s"] + 60,
                     sandbox=limits.get("sandbox", True))
    if result.get("fault"):
        raise SandboxFault(f"{what} failed in the sandbox: "
                           f"{'; '.join(result.get('events', [])[:2]) or result['fault']}")
    events.extend(result.get("events", []))
    return result.get("calls") or {}


def _encoded_cases(cases) -> list:
    try:
        return [{"args": encode(tuple(a)), "kwargs": encode(dict(k))} for a, k in cases]
    except EncodingError as error:
        raise RuntimeError(f"the test cases cannot be sent to the sandbox: {error}")


def replay_calls(jobs: dict, imports: str, limits: dict, events: list) -> dict:
    """Call several learner functions in one sandboxed process (one start-up instead of one
    per function): ``jobs`` maps a key to ``(problem, FunctionAnswer)``; returns the results
    per key. If the process is stopped (a function ignored its time limit), the function it
    was in gets no results (it timed out) and the ones after it are called again together.
    A key left out (a single function, cases that cannot be sent) is called on its own."""
    batch = {}
    for key, (problem, answer) in jobs.items():
        try:
            batch[key] = {"source": answer.source, "name": answer.name,
                          "cases": _encoded_cases(problem.cases())}
        except RuntimeError:
            continue   # reported when the problem is checked
    results: dict = {}
    while len(batch) >= 2:
        done = _in_sandbox({"imports": imports, "batch": batch}, limits, events,
                           "calling the learner's functions").get("batch")
        done = {k: v for k, v in done.items() if k in batch and isinstance(v, list)} \
            if isinstance(done, dict) else {}
        results.update(done)
        missing = [k for k in batch if k not in done]
        if not missing:
            break
        # The process stopped in the first unfinished function (it ignored its time limit,
        # or ran out of memory): no results, as when a function's own process is stopped.
        results[missing[0]] = []
        batch = {k: batch[k] for k in missing[1:]}
    return results


def replayed_function(problem, answer: FunctionAnswer, imports: str, limits: dict, events: list,
                      results: list | None = None):
    """A stand-in function that returns what the learner's function returned in the sandbox
    (``results``: already called by :func:`replay_calls`)."""
    cases = problem.cases()
    encoded = _encoded_cases(cases)
    if results is None:
        results = _in_sandbox({"imports": imports, "source": answer.source, "name": answer.name,
                               "cases": encoded}, limits, events,
                              "calling the learner's function").get("results") or []
    position = [0]

    def fn(*args, **kwargs):
        i = position[0]
        position[0] += 1
        if i >= len(cases) or i >= len(results):
            raise core.LearnerTimeout("your function did not finish within the time limit")
        if encode(tuple(args)) != encoded[i]["args"]:
            raise RuntimeError("the check's test cases changed between runs")
        entry = results[i]
        if isinstance(entry.get("after"), dict):  # it changed its arguments in the sandbox
            write_back(args, kwargs, entry["after"])
        if entry.get("timed_out"):
            raise core.LearnerTimeout("your function did not finish within the time limit")
        if "ok" in entry:
            return decode(entry["ok"])
        raise _rebuild_error(entry.get("error", {}), answer.source)

    fn.__name__ = answer.name
    signature = _signature_of(answer)
    if signature is not None:  # so a check names the learner's own parameters
        fn.__signature__ = signature
    return fn


def _signature_of(answer: FunctionAnswer):
    """The signature of the learner's function, read from its source (never run here)."""
    import ast
    import inspect
    try:
        tree = ast.parse(answer.source)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == answer.name:
            a = node.args
            kind = inspect.Parameter
            params = [kind(x.arg, kind.POSITIONAL_ONLY) for x in a.posonlyargs]
            params += [kind(x.arg, kind.POSITIONAL_OR_KEYWORD) for x in a.args]
            if a.vararg:
                params.append(kind(a.vararg.arg, kind.VAR_POSITIONAL))
            params += [kind(x.arg, kind.KEYWORD_ONLY) for x in a.kwonlyargs]
            if a.kwarg:
                params.append(kind(a.kwarg.arg, kind.VAR_KEYWORD))
            try:
                return inspect.Signature(params)
            except ValueError:
                return None
    return None


def judge(module_name: str, hidden_source: str, answers: dict, imports: str = "",
          limits: dict | None = None) -> dict:
    module = importlib.import_module(module_name)
    problems = {n: p for n, p in problems_of(module).items() if graded(p)}
    events: list = []
    namespace, unreadable = {}, []
    for var, data in (answers or {}).items():
        try:
            namespace[str(var)] = decode(data)
        except (EncodingError, ValueError, TypeError, OverflowError, RuntimeError) as error:
            unreadable.append(f"`{var}` could not be read back ({error})")
            namespace[str(var)] = standin("unreadable_value", "learner")
    try:
        hidden = load_hidden(module, hidden_source)
        hidden_error = None
    except Exception as error:  # noqa: BLE001 - the instructor's code
        hidden, hidden_error = {}, f"{type(error).__name__}: {error}"

    def replays(problem) -> list:
        functions = [v for v in problem.vars if isinstance(namespace.get(v), FunctionAnswer)]
        if functions and isinstance(problem, core.FunctionProblem) and replayable(problem):
            return functions
        return []

    # every replayable function answer called in one sandboxed process, before the checks
    try:
        called = replay_calls({f"{name}/{var}": (problem, namespace[var])
                               for name, problem in problems.items() for var in replays(problem)},
                              imports, limits or {}, events)
    except SandboxFault:
        raise
    except Exception as error:  # noqa: BLE001 - each is then called on its own, as before
        events.append(f"the functions could not be called together: {error}")
        called = {}
    out = []
    for name, problem in problems.items():
        ns = dict(namespace)
        functions = [v for v in problem.vars if isinstance(ns.get(v), FunctionAnswer)]
        replay = bool(replays(problem))
        if functions and not replay:
            # The check calls the function with live objects (a model, an API client...):
            # it runs, with the learner's function, in the sandbox.
            outcome = checked_in_sandbox(module_name, name, {v: answers[v] for v in problem.vars
                                                             if v in answers},
                                         imports, limits or {}, events)
        else:
            for var in functions:
                try:
                    ns[var] = replayed_function(problem, ns[var], imports, limits or {}, events,
                                                results=called.get(f"{name}/{var}"))
                except SandboxFault:
                    raise
                except Exception as error:  # noqa: BLE001
                    ns[var] = standin("function", "learner")
                    events.append(f"{name}: {error}")
            outcome = problem.evaluate(ns)
        hidden_outcomes = []
        if hidden_error:
            hidden_outcomes.append(core.Outcome(core.CHECKER_ERROR, "the hidden checks could "
                                                "not be loaded: tell your instructor."))
        elif outcome.correct:
            for check in hidden.get(name, []):
                for var in check.vars:
                    if isinstance(ns.get(var), FunctionAnswer):
                        ns[var] = standin("function", "learner")
                hidden_outcomes.append(check.evaluate(ns))
        passed = outcome.correct and all(h.status in (core.CORRECT, core.INFO)
                                         for h in hidden_outcomes)
        out.append({"name": name, "vars": list(problem.vars), "status": outcome.status,
                    "message": outcome.message,
                    "hidden": [{"status": h.status, "message": h.message} for h in hidden_outcomes],
                    "hidden_count": len(hidden.get(name, [])), "score": 1 if passed else 0})
    return {"problems": out, "events": events, "unreadable": unreadable,
            "hidden_error": hidden_error}


def _judge_job(job: dict) -> dict:
    try:
        return judge(job["module"], job.get("hidden", ""), job.get("answers") or {},
                     job.get("imports", ""), job.get("limits"))
    except BaseException as error:  # noqa: BLE001 - reported, never a crash of the run
        return {"problems": None, "error": f"{type(error).__name__}: {str(error)[:500]}"}


def judge_forever(module_name: str) -> None:
    """Judge one job per stdin line, each in a fresh child forked from this clean process.

    This process imports torch and the lesson's questions once and never sees a learner's
    answers; every job is judged in a new fork of it (cheap: nothing is imported again), so
    no learner's data can influence another's judging. One result line per job on stdout.
    """
    import signal

    importlib.import_module(module_name)
    import torch
    torch.set_num_threads(1)
    for line in sys.stdin:
        if not line.strip():
            continue
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                job = json.loads(line)
                signal.alarm(int((job.get("limits") or {}).get("total_s", 600)) + 60)
                data = json.dumps(_judge_job(job))
            except BaseException as error:  # noqa: BLE001
                data = json.dumps({"problems": None, "error": f"{type(error).__name__}: {error}"})
            with os.fdopen(write_fd, "w") as out:
                out.write(data)
            os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        sys.stdout.write((data.replace("\n", " ") or json.dumps(
            {"problems": None, "error": "the judge process died"})) + "\n")
        sys.stdout.flush()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        judge_forever(sys.argv[2])
        return
    sys.stdout.write(json.dumps(_judge_job(json.loads(sys.stdin.read()))))


if __name__ == "__main__":
    main()
