"""The house rules, checked on the source tree (docs/architecture.md).

* Dependencies between the top-level packages of ``civicloop`` point one way: the import graph, with
  imports inside functions counted too, has no cycle between packages.
* No civicloop module is imported by name at run time (``importlib``), which would hide an edge.
* No dependency that ``pyproject.toml`` requires is imported as if it were optional
  (``try: import x / except ImportError``).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = SRC / "civicloop"


@dataclass(frozen=True)
class Edge:
    source: str  # module importing
    target: str  # module imported
    where: str  # file:line

    @property
    def packages(self) -> tuple[str, str]:
        return top_level(self.source), top_level(self.target)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level(module: str) -> str:
    """``civicloop.kpi.engine`` → ``kpi``; the package's own ``__init__`` is ``civicloop``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def known_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, modules: set[str]) -> Iterator[Edge]:
    """Every civicloop import in the file, at any depth (functions, methods, conditionals)."""
    source = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "civicloop":
                    yield Edge(source, alias.name, where)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = source.split(".") if is_package else source.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "civicloop":
                continue
            for alias in node.names:
                # ``from civicloop.web import views`` imports the module civicloop.web.views
                sub = f"{module}.{alias.name}"
                yield Edge(source, sub if sub in modules else module, where)


def import_graph() -> list[Edge]:
    modules = known_modules()
    return [e for p in sorted(PACKAGE.rglob("*.py")) for e in imports_of(p, modules)]


def package_cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        a, b = e.packages
        if a != b and "civicloop" not in (a, b):
            graph[a].add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports() -> None:
    # The checker itself: an import inside a function is an edge like any other.
    edges = import_graph()
    assert any(e.source == "civicloop.cli.kpi" and e.target.startswith("civicloop.kpi.") for e in edges)
    tree_with_local_import = ast.parse("def f():\n    from civicloop.kpi import engine\n")
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree_with_local_import))


def test_cycle_detection_finds_a_cycle() -> None:
    edges = [
        Edge("civicloop.a.x", "civicloop.b.y", "t:1"),
        Edge("civicloop.b.y", "civicloop.c.z", "t:2"),
        Edge("civicloop.c.z", "civicloop.a.w", "t:3"),
        Edge("civicloop.d.q", "civicloop.a.x", "t:4"),
    ]
    assert package_cycles(edges) == [["a", "b", "c"]]
    assert package_cycles(edges[:2]) == []


def test_no_cycle_between_packages() -> None:
    edges = import_graph()
    cycles = package_cycles(edges)
    details = []
    for cycle in cycles:
        members = set(cycle)
        details += [
            f"  {e.source} -> {e.target} ({e.where})"
            for e in edges
            if e.packages[0] in members and e.packages[1] in members and e.packages[0] != e.packages[1]
        ]
    assert not cycles, (
        "import cycles between packages:\n" + "\n".join(map(str, cycles)) + "\n" + "\n".join(details)
    )


_DYNAMIC = re.compile(r"""(import_module|__import__|find_spec)\(\s*["']civicloop""")


def test_no_dynamic_import_of_civicloop_modules() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in PACKAGE.rglob("*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if _DYNAMIC.search(line)
    ]
    assert not offenders, "civicloop modules imported by name: " + ", ".join(offenders)


def required_import_names() -> set[str]:
    """Top-level import names of the distributions pyproject.toml requires (not the dev extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {_normalise(re.split(r"[\[=<>!~ ;]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    names = set()
    for module, dists in importlib.metadata.packages_distributions().items():
        if any(_normalise(d) in required for d in dists):
            names.add(module)
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def guarded_imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Modules imported inside a ``try`` whose handlers catch ImportError/ModuleNotFoundError."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {t.id for t in types if isinstance(t, ast.Name)}
        if not caught & {"ImportError", "ModuleNotFoundError"}:
            continue
        for stmt in node.body:
            for inner in ast.walk(stmt):
                if isinstance(inner, ast.Import):
                    yield from ((a.name, inner.lineno) for a in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.module and not inner.level:
                    yield inner.module, inner.lineno
                elif isinstance(inner, ast.Call) and getattr(inner.func, "attr", "") == "import_module":
                    arg = inner.args[0] if inner.args else None
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        yield arg.value, inner.lineno


def test_guard_detection_sees_a_guarded_import() -> None:
    tree = ast.parse("try:\n    import yaml\nexcept ImportError:\n    yaml = None\n")
    assert list(guarded_imports(tree)) == [("yaml", 2)]
    assert "yaml" in required_import_names()  # PyYAML is required: such a guard would be refused


def test_required_dependencies_are_not_imported_as_optional() -> None:
    required = required_import_names() | {"civicloop"}
    offenders = [
        f"{p.relative_to(ROOT)}:{line} ({module})"
        for p in PACKAGE.rglob("*.py")
        for module, line in guarded_imports(ast.parse(p.read_text(encoding="utf-8")))
        if module.split(".")[0] in required
    ]
    assert not offenders, "required dependencies imported as optional: " + ", ".join(offenders)


def _folder_map() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Folder map", 1)[1]
    return section.split("```", 2)[1]


def test_the_folder_map_names_every_top_level_package_and_no_other() -> None:
    on_disk = {p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    on_disk |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    folder_map = _folder_map()
    named = set(re.findall(r"^  ([a-z_0-9]+/|[a-z_0-9]+\.py)", folder_map, re.M))
    assert on_disk - named == set(), f"not in docs/architecture.md's folder map: {sorted(on_disk - named)}"
    assert named - on_disk == set(), f"in the folder map but not in src/civicloop: {sorted(named - on_disk)}"
