"""The package's modules import each other without cycles (top-level and function-level imports).

Every module of the installed package is parsed with ``ast`` (nothing is imported): ``seqgan_gym/*.py``,
``envs/*.py`` as ``seqgan_gym.envs.*`` and ``agents/*.py`` as ``seqgan_gym.agents.*`` (the
``package-dir`` mapping of pyproject.toml). Each ``import`` / ``from ... import`` of a
``seqgan_gym`` module anywhere in a file is an edge - inside functions and ``if TYPE_CHECKING:``
blocks too, so a function-local import cannot hide a cycle. What is left out, and why:

* the implicit edge from a module to its parent package (``import seqgan_gym.models.lstm`` first runs
  ``seqgan_gym/__init__.py``): the package ``__init__`` modules are kept import-light on purpose
  (registration and PEP 562 lazy names only), and every submodule would otherwise form a trivial
  cycle with its package;
* the lazy names of ``seqgan_gym/__init__.py`` and ``envs/__init__.py`` (their ``_LAZY`` maps,
  loaded by ``__getattr__`` on first use): the package does not import them when it is imported, so
  they are no edge of the package. A module that imports such a name (``from seqgan_gym.envs import
  SeqGANVectorEnv``) gets the edge to the module that defines it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "seqgan_gym"
# source folder -> the package it is installed as (pyproject.toml, [tool.setuptools.package-dir])
FOLDERS = {"seqgan_gym": "seqgan_gym", "envs": "seqgan_gym.envs", "agents": "seqgan_gym.agents"}


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package, sub-packages included."""
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if package == PACKAGE and parts and parts[0] in ("envs", "agents"):
                continue  # links to the top-level folders (a development checkout may have them)
            modules[".".join((package, *parts))] = path
    return modules


def _lazy_names(tree: ast.Module, package: str) -> dict[str, str]:
    """A package ``__init__``'s ``_LAZY = {name: module}`` map, modules made absolute."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY"
                                                for t in node.targets):
            lazy = ast.literal_eval(node.value)
            return {name: package + target if target.startswith(".") else target
                    for name, target in lazy.items()}
    return {}


def import_graph(modules: dict[str, Path], root: Path = ROOT) -> dict[str, dict[str, str]]:
    """module -> {imported package module: "file:line" (relative to ``root``) of its first import}."""
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in modules.items()}
    is_package = {name: path.stem == "__init__" for name, path in modules.items()}
    lazy = {name: _lazy_names(tree, name) for name, tree in trees.items() if is_package[name]}

    def owner(dotted: str) -> str | None:
        """The longest known module that ``dotted`` names or lies in, if it is in the package."""
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in modules:
                return ".".join(parts[:n])
        return None

    def targets(name: str, tree: ast.Module):
        """(imported package module, line) for every import in ``tree``, at any depth."""
        here = name if is_package[name] else name.rpartition(".")[0]  # the package of `name`
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield owner(alias.name), node.lineno
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: strip level - 1 packages from `here`
                    base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                if base.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:  # from seqgan_gym import metrics
                        yield f"{base}.{alias.name}", node.lineno
                    elif alias.name in lazy.get(base, {}):  # a PEP 562 lazy name: its module
                        yield owner(lazy[base][alias.name]), node.lineno
                    else:
                        yield owner(base), node.lineno

    graph: dict[str, dict[str, str]] = {}
    for name, tree in trees.items():
        edges = graph.setdefault(name, {})
        for target, line in sorted(targets(name, tree), key=lambda t: t[1]):
            if target is not None and target != name:
                edges.setdefault(target, f"{modules[name].relative_to(root)}:{line}")
    return graph


def find_cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per strongly connected component that has one (Tarjan)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, {}):
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for component in components:  # a shortest path back to the start, inside the component
        start = min(component)
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            nxt = sorted(w for w in graph.get(path[-1], {}) if w in component)
            if start in nxt:
                cycles.append([*path, start])
                break
            for w in nxt:
                if w not in seen:
                    seen.add(w)
                    paths.append([*path, w])
    return sorted(cycles)


def describe(cycle: list[str], graph: dict[str, dict[str, str]]) -> str:
    return " -> ".join(cycle) + "  (" + ", ".join(
        f"{a} imports {b} at {graph[a][b]}" for a, b in zip(cycle, cycle[1:])) + ")"


def test_the_graph_covers_the_package():
    """Guard against a vacuous pass: the modules and some known edges are found."""
    graph = import_graph(package_modules())
    for module in ("seqgan_gym", "seqgan_gym.models.lstm", "seqgan_gym.models.sampling",
                   "seqgan_gym._kernels.inverse_cdf", "seqgan_gym.envs.core", "seqgan_gym.agents.reinforce",
                   "seqgan_gym.agents.sb3.policies", "seqgan_gym.run.cli"):
        assert module in graph
    assert "seqgan_gym._kernels.inverse_cdf" in graph["seqgan_gym.models.lstm"]
    assert "seqgan_gym.models.discriminator" in graph["seqgan_gym.training.updates"]
    assert "seqgan_gym.data.music" in graph["seqgan_gym.data.corpus"]
    assert "seqgan_gym.data.corpus" not in graph["seqgan_gym.data.music"]


def test_no_import_cycles():
    graph = import_graph(package_modules())
    cycles = find_cycles(graph)
    assert not cycles, "import cycles between package modules:\n" + "\n".join(
        describe(c, graph) for c in cycles)


@pytest.mark.parametrize("local", [False, True], ids=["top-level", "function-level"])
def test_a_cycle_is_found_and_reported(tmp_path, local):
    """The checker itself: a tiny package with a cycle through a function-local import."""
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
    (tmp_path / "seqgan_gym" / "__init__.py").write_text(
        'import seqgan_gym.envs\n_LAZY = {"A": "seqgan_gym.a"}\n')
    (tmp_path / "envs" / "__init__.py").write_text('_LAZY = {"Env": ".env"}\n')
    (tmp_path / "envs" / "env.py").write_text("from seqgan_gym import A\n")  # -> seqgan_gym.a
    b_imports_a = "def f():\n    from seqgan_gym.a import x\n" if local else "from . import a\n"
    (tmp_path / "seqgan_gym" / "a.py").write_text("from seqgan_gym.b import y\nx = 1\n")
    (tmp_path / "seqgan_gym" / "b.py").write_text(b_imports_a)
    (tmp_path / "seqgan_gym" / "c.py").write_text("from seqgan_gym.envs import Env\n")  # -> envs.env
    graph = import_graph(package_modules(tmp_path), tmp_path)
    assert graph["seqgan_gym.envs.env"] == {"seqgan_gym.a": "envs/env.py:1"}
    assert set(graph["seqgan_gym.c"]) == {"seqgan_gym.envs.env"}
    assert set(graph["seqgan_gym"]) == {"seqgan_gym.envs"}  # lazy names are no edge of the package
    cycles = find_cycles(graph)
    assert cycles == [["seqgan_gym.a", "seqgan_gym.b", "seqgan_gym.a"]]
    assert "seqgan_gym.b imports seqgan_gym.a at seqgan_gym/b.py:" in describe(cycles[0], graph)


# The layers, from the bottom: a module may import its own layer and the layers below it, never one
# above. A model reads as its math (kernels below it); the environments hold reward models; agents
# act in environments; the experiment wires them; Algorithm 1 runs it; the command line drives runs;
# the package's own namespace (its lazy names) sits on top.
LAYERS = [
    ("helpers", ["seqgan_gym.utils", "seqgan_gym._kernels"]),
    ("config", ["seqgan_gym.config"]),
    ("models", ["seqgan_gym.models"]),
    ("data", ["seqgan_gym.data"]),
    ("training", ["seqgan_gym.training"]),
    ("evaluation", ["seqgan_gym.evaluation"]),
    ("rewards", ["seqgan_gym.rewards"]),
    ("envs", ["seqgan_gym.envs"]),
    ("agents", ["seqgan_gym.agents"]),
    ("experiment", ["seqgan_gym.experiment"]),
    ("algorithm1", ["seqgan_gym.algorithm1"]),
    ("run", ["seqgan_gym.run"]),
    ("package", ["seqgan_gym"]),
]


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest prefix that ``module`` is or lies in."""
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    if best is None:
        raise KeyError(module)
    return best[0]


def upward_imports(graph: dict[str, dict[str, str]]) -> list[str]:
    """Every import of a module in a higher layer, described."""
    found = []
    for module, edges in sorted(graph.items()):
        for target, where in edges.items():
            if layer_of(target) > layer_of(module):
                found.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)][0]}) at {where}")
    return found


def test_every_module_has_a_layer():
    for module in package_modules():
        layer_of(module)  # raises KeyError for a module no layer names


def test_imports_go_down_the_layers():
    graph = import_graph(package_modules())
    upward = upward_imports(graph)
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_an_upward_import_is_found():
    """The checker itself: a model importing the environments is reported, with its line."""
    graph = {"seqgan_gym.models.lstm": {"seqgan_gym.envs.core": "seqgan_gym/models/lstm.py:7"},
             "seqgan_gym.envs.core": {"seqgan_gym.models.lstm": "envs/core.py:3"}}
    assert upward_imports(graph) == [
        "seqgan_gym.models.lstm (models) imports seqgan_gym.envs.core (envs) at seqgan_gym/models/lstm.py:7"]
