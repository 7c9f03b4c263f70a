"""The package stays one toolkit: one name, one meaning; no private imports; no import cycles.

Checked on the source (no imports run), over every module of ``course_utils``.
"""
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"

# Names several modules define on purpose, each with the same meaning everywhere.
SAME_MEANING = {
    "main",          # the entry point of a command (course build / course grade)
}
# Known clashes left for their owners, each with where it is to be fixed. Keep this short.
KNOWN: set = set()


def _modules():
    """``{dotted name: ast tree}`` of every module in the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


def _is_package(name: str) -> bool:
    parts = name.split(".")
    return (PACKAGE.parent.joinpath(*parts) / "__init__.py").exists()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules):
    """``{module: {imported course_utils module, ...}}``, lazy (function-level) imports included."""
    graph = defaultdict(set)
    for name, tree in modules.items():
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, node)
                targets = [source] + [f"{source}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target.startswith("course_utils") and target != name \
                        and not name.startswith(target + "."):   # a package's own __init__
                    graph[name].add(target)
    return graph


def test_no_public_name_is_defined_twice():
    where = defaultdict(list)
    for name, tree in _modules().items():
        if ".exercises.lesson" in name:   # each lesson's q1, q2... are its own questions
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and not node.name.startswith("_"):
                where[node.name].append(name)
    twice = {n: m for n, m in where.items() if len(m) > 1 and n not in SAME_MEANING
             and (n, tuple(m)) not in KNOWN}
    assert not twice, f"defined in more than one module (merge them, or rename one): {twice}"


def test_no_module_imports_another_modules_private_name():
    found = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _resolve(name, node).startswith("course_utils"):
                found += [f"{name} imports {_resolve(name, node)}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


def test_no_import_cycle():
    graph = _imports(_modules())
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_package_map_names_every_module():
    import course_utils
    doc = course_utils.__doc__
    missing = [name.split(".")[1] for name in _modules()
               if name.count(".") == 1 and f"``{name.split('.')[1]}``" not in doc]
    assert not missing, f"modules missing from the map in course_utils/__init__.py: {missing}"
