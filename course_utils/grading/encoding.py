"""Answers as JSON-safe data, and back: the only thing that crosses from a learner's kernel
to the judge.

``encode`` runs inside the learner's kernel (so its output is *untrusted*); ``decode`` runs in
the judge and rebuilds values of **exact** known types only: ``None``, bool, int, float, str,
list, tuple, dict, set, torch tensors and parameters, NumPy arrays and scalars, the blank
``____``, and functions (as their source code, never as objects). Anything else becomes a
stand-in object of a fresh, empty class that carries only the original type's name, so a
check says "it is an object of type Liar" exactly as ``check()`` would, and an overridden
``__eq__`` or a lying subclass never reaches the judge. Nothing is ever pickled.
"""
from __future__ import annotations

import inspect
import re
import textwrap
import types

MAX_DEPTH = 20
MAX_ITEMS = 200_000          # elements in one container or tensor
MAX_STR = 1_000_000          # characters in one str
MAX_SOURCE = 200_000         # characters of function source

_NAME = re.compile(r"[^A-Za-z0-9_.]")


class EncodingError(ValueError):
    """Data from a submission that does not describe a value we can rebuild."""


# ----------------------------------------------------------------------------------------
# In the learner's kernel
# ----------------------------------------------------------------------------------------
def _other(value) -> dict:
    t = type(value)
    return {"t": "other", "type": str(getattr(t, "__name__", "?"))[:100],
            "module": str(getattr(t, "__module__", "?"))[:100]}


def encode(value, depth: int = 0, namespace: dict | None = None, _seen=None):
    """A JSON-safe description of ``value`` (exact types only; anything else is 'other')."""
    import numpy as np
    import torch
    from course_utils.exercises.core import ____

    if depth > MAX_DEPTH:
        raise EncodingError("the value is nested too deeply")
    t = type(value)
    if value is ____:
        return {"t": "blank"}
    if value is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": bool(value)}
    if t is int:
        text = int.__repr__(value)
        if len(text) > 4000:
            raise EncodingError("the int is too large")
        return {"t": "int", "v": text}
    if t is float:
        return {"t": "float", "v": float.__repr__(value)}
    if t is str:
        if len(value) > MAX_STR:
            raise EncodingError("the str is too long")
        return {"t": "str", "v": str.__str__(value)}
    if t in (list, tuple, set, frozenset):
        items = list(value) if t in (set, frozenset) else value
        if len(items) > MAX_ITEMS:
            raise EncodingError(f"the {t.__name__} is too long")
        return {"t": t.__name__, "v": [encode(v, depth + 1, namespace, _seen) for v in items]}
    if t is dict:
        if len(value) > MAX_ITEMS:
            raise EncodingError("the dict is too long")
        return {"t": "dict", "v": [[encode(k, depth + 1, namespace, _seen),
                                     encode(v, depth + 1, namespace, _seen)]
                                    for k, v in dict.items(value)]}
    if t in (torch.Tensor, torch.nn.Parameter):
        if value.is_complex() or value.is_quantized or value.is_sparse:
            return _other(value)
        if value.numel() > MAX_ITEMS:
            raise EncodingError("the tensor is too large")
        data = torch.Tensor.tolist(torch.Tensor.detach(value).cpu())
        return {"t": "tensor", "param": t is torch.nn.Parameter,
                "dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
                "data": data}
    if t is np.ndarray:
        if value.dtype.kind not in "biufc" or value.size > MAX_ITEMS:
            return _other(value)
        return {"t": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape),
                "data": value.tolist() if value.dtype.kind != "c" else
                [[z.real, z.imag] for z in value.ravel().tolist()]}
    if isinstance(value, np.generic) and t.__module__ == "numpy" and value.dtype.kind in "biuf":
        return {"t": "npscalar", "dtype": str(value.dtype), "v": repr(value.item())}
    if t is types.FunctionType:
        return _encode_function(value, namespace or {}, _seen)
    return _other(value)


def _global_names(code) -> set:
    """The global names a code object and the code nested in it (comprehensions, lambdas) use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _import_line(name: str, value) -> str | None:
    """The import statement that binds ``name`` to ``value`` again where the function is replayed
    (``import numpy as np``, ``from scipy.stats import shapiro``), if ``value`` is a module or a
    library function or class that its module gives back under its own name; else None."""
    import importlib
    if isinstance(value, types.ModuleType):
        module = value.__name__
        if not _NAME_PATH.fullmatch(module):
            return None
        return f"import {module}" if name == module else f"import {module} as {name}"
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str) and _NAME_PATH.fullmatch(module)
            and qualname.isidentifier() and module not in ("__main__", "builtins")):
        return None
    try:
        if getattr(importlib.import_module(module), qualname, None) is not value:
            return None
    except Exception:  # noqa: BLE001 -- not importable again: leave it to the lesson's imports
        return None
    return f"from {module} import {qualname}" + ("" if name == qualname else f" as {name}")


_NAME_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _encode_function(fn, namespace: dict, seen) -> dict:
    """A function as its source, plus the sources of the learner's functions it calls."""
    seen = set() if seen is None else seen
    sources: list[str] = []
    imports: list[str] = []   # what the learner imported and the functions use (their own cell's too)

    def add(f):
        if id(f) in seen:
            return
        seen.add(id(f))
        try:
            source = textwrap.dedent(inspect.getsource(f))
        except (OSError, TypeError):
            raise EncodingError(f"the source of function {f.__name__} cannot be found")
        for name in _global_names(f.__code__):
            other = namespace.get(name)
            line = _import_line(name, other)
            if line and line not in imports:
                imports.append(line)
            # the learner's own helpers travel along; imported ones (kd_loss) are imported
            # again by the lesson's imports where the function runs
            if type(other) is types.FunctionType and other is not f and \
                    getattr(other, "__module__", None) == getattr(fn, "__module__", None):
                add(other)
        sources.append(source)

    add(fn)
    text = "\n\n".join((["\n".join(sorted(imports))] if imports else []) + sources)
    if len(text) > MAX_SOURCE:
        raise EncodingError("the function's source is too long")
    return {"t": "function", "name": str(fn.__name__), "source": text}


def encode_answers(names, namespace: dict) -> dict:
    """``{name: encoded}`` for each name defined in ``namespace`` (errors named, never raised)."""
    out = {}
    for name in names:
        if name not in namespace:
            continue
        try:
            out[name] = encode(namespace[name], namespace=namespace)
        except Exception as error:  # noqa: BLE001 - any failure is the submission's
            out[name] = {"t": "unreadable", "why": str(error)[:200]}
    return out


# ----------------------------------------------------------------------------------------
# In the judge
# ----------------------------------------------------------------------------------------
_STANDINS: dict = {}


def standin(type_name: str, module: str):
    """An instance of a fresh, behaviourless class named like the learner's type."""
    type_name = _NAME.sub("_", str(type_name))[:100] or "object"
    module = _NAME.sub("_", str(module))[:100] or "learner"
    key = (type_name, module)
    if key not in _STANDINS:
        _STANDINS[key] = type(type_name, (), {"__module__": module,
                                               "__repr__": lambda self: f"<{type_name}>"})
    return _STANDINS[key]()


class FunctionAnswer:
    """A function answer, before the judge replaces it by a replay of its sandboxed calls."""

    def __init__(self, name: str, source: str):
        self.name, self.source = name, source


def _require(condition, what):
    if not condition:
        raise EncodingError(what)


def decode(data, depth: int = 0):
    """Rebuild a value from :func:`encode`'s output, trusting nothing about it."""
    import numpy as np
    import torch
    from course_utils.exercises.core import ____

    _require(depth <= MAX_DEPTH + 1, "nested too deeply")
    _require(type(data) is dict and type(data.get("t")) is str, "not an encoded value")
    t = data["t"]
    v = data.get("v")
    if t == "blank":
        return ____
    if t == "none":
        return None
    if t == "bool":
        _require(type(v) is bool, "bad bool")
        return v
    if t == "int":
        _require(type(v) is str and len(v) <= 4001, "bad int")
        return int(v)
    if t == "float":
        _require(type(v) is str and len(v) < 40, "bad float")
        return float(v)
    if t == "str":
        _require(type(v) is str, "bad str")
        return v
    if t in ("list", "tuple", "set", "frozenset"):
        _require(type(v) is list and len(v) <= MAX_ITEMS, "bad container")
        items = [decode(x, depth + 1) for x in v]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](items)
    if t == "dict":
        _require(type(v) is list, "bad dict")
        out = {}
        for pair in v:
            _require(type(pair) is list and len(pair) == 2, "bad dict item")
            out[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
        return out
    if t == "tensor":
        dtype = getattr(torch, str(data.get("dtype")), None)
        _require(isinstance(dtype, torch.dtype), "bad tensor dtype")
        shape = data.get("shape")
        _require(type(shape) is list and all(type(s) is int and s >= 0 for s in shape), "bad shape")
        tensor = torch.tensor(data.get("data"), dtype=dtype)
        if list(tensor.shape) != shape and tensor.numel() == 0 and 0 in shape:
            tensor = tensor.reshape(shape)  # an empty tensor's list loses its shape
        _require(list(tensor.shape) == shape, "tensor data does not match its shape")
        return torch.nn.Parameter(tensor, requires_grad=tensor.is_floating_point()) \
            if data.get("param") is True else tensor
    if t == "ndarray":
        dtype = np.dtype(str(data.get("dtype")))
        _require(dtype.kind in "biufc", "bad array dtype")
        shape = data.get("shape")
        _require(type(shape) is list and all(type(s) is int and s >= 0 for s in shape), "bad shape")
        raw = data.get("data")
        if dtype.kind == "c":
            array = np.array([complex(a, b) for a, b in raw], dtype=dtype).reshape(shape)
        else:
            array = np.array(raw, dtype=dtype)
        if list(array.shape) != shape and array.size == 0 and 0 in shape:
            array = array.reshape(shape)
        _require(list(array.shape) == shape, "array data does not match its shape")
        return array
    if t == "npscalar":
        dtype = np.dtype(str(data.get("dtype")))
        _require(dtype.kind in "biuf" and type(v) is str and len(v) < 40, "bad NumPy scalar")
        number = float(v) if dtype.kind == "f" else (v == "True" if dtype.kind == "b" else int(v))
        return dtype.type(number)
    if t == "function":
        _require(type(data.get("source")) is str and type(data.get("name")) is str, "bad function")
        return FunctionAnswer(data["name"], data["source"][:MAX_SOURCE])
    if t == "other":
        return standin(data.get("type", "object"), data.get("module", "learner"))
    if t == "unreadable":
        return standin("unreadable_value", "learner")
    raise EncodingError(f"unknown kind {t[:30]!r}")
