"""Structure rules of chalicelib (docs/architecture.md), checked on the source with ast:

- no import cycle between chalicelib's modules (imports inside functions count too);
- market data never imports trading (it gets the order book through the provider chalicelib/wiring.py registers);
- no `except ImportError` guard for code of this repo;
- route functions are thin: none longer than 15 lines (orchestration belongs in a capability's service.py).
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "chalicelib"
MAX_ROUTE_LINES = 15


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _imports(name: str) -> set[str]:
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_walk_sees_the_whole_package():
    assert "chalicelib.trading.store" in GRAPH["chalicelib.trading.service"]
    assert len(MODULES) > 50


def test_cycle_detection_works():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_marketdata_never_imports_trading():
    bad = [(m, d) for m, deps in GRAPH.items() if m.startswith("chalicelib.marketdata")
           for d in deps if d.startswith("chalicelib.trading")]
    assert bad == []


def test_no_import_error_guard():
    guarded = []
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None and "ImportError" in ast.unparse(node.type):
                guarded.append(f"{name}:{node.lineno}")
    assert guarded == []


def _route_functions():
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                    isinstance(d, ast.Call) and ast.unparse(d.func).split(".")[-1] == "route"
                    for d in node.decorator_list):
                yield name, node


def _body_lines(node) -> int:
    """Lines of the function from `def` to its end, docstring excluded."""
    first = node.body[0]
    skip = 0
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str):
        skip = first.end_lineno - first.lineno + 1
    return node.end_lineno - node.lineno + 1 - skip


def test_routes_are_thin():
    routes = list(_route_functions())
    assert len(routes) > 40
    too_long = {f"{m}.{fn.name}": _body_lines(fn) for m, fn in routes if _body_lines(fn) > MAX_ROUTE_LINES}
    assert too_long == {}
