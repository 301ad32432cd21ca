"""The packages' import graph, read from the source with `ast` (nothing is imported).

Every import counts, at module level or inside a function: a lazy import still ties the
two modules together, it only hides the knot until run time. Importing `a.b.c` runs
`a/__init__.py` and `a/b/__init__.py` first, so a module also depends on its parent
packages. The graph must have no cycle, and the server must use nothing of the client but
the generated stubs (`trackwire.v1`) and the package both sides share
(`trackwire_protocol`).
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = {
    "trackwire": ROOT / "client" / "trackwire",
    "trackwire_protocol": ROOT / "client" / "trackwire_protocol",
    "trackwire_server": ROOT / "server" / "trackwire_server",
}
STUBS = "trackwire.v1"
# What a server module may import from the client's package: the generated stubs.
SERVER_MAY_IMPORT = (STUBS,)
MAX_LINES = 500


def module_files() -> dict[str, pathlib.Path]:
    """Every hand-written module of the three packages, by dotted name (stubs excluded)."""
    modules = {}
    for package, folder in PACKAGES.items():
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name != STUBS and not name.startswith(STUBS + "."):
                modules[name] = path
    return modules


def _is_package(name: str, modules: dict[str, pathlib.Path]) -> bool:
    return modules[name].name == "__init__.py"


def _resolve(target: str, modules: dict[str, pathlib.Path]) -> str | None:
    """The module `target` names, or the nearest enclosing one of ours; None if not ours."""
    while target:
        if target in modules or target == STUBS or target.startswith(STUBS + "."):
            return target
        target = target.rpartition(".")[0]
    return None


def _is_ours(name: str, modules: dict[str, pathlib.Path]) -> bool:
    return name in modules or name == STUBS or name.startswith(STUBS + ".")


def imports_of(name: str, modules: dict[str, pathlib.Path]) -> set[str]:
    """The modules of ours that importing `name` imports: each module it names, and the
    parent packages of those (importing `a.b.c` runs `a` and `a.b` first), except its own
    parents (they are already running when it is imported)."""
    path = modules[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            for alias in node.names:
                # `from pkg import module` imports pkg.module; `from pkg import name`, pkg.
                submodule = f"{origin}.{alias.name}"
                named.add(submodule if _is_ours(submodule, modules) else origin)
    own_parents = {name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)}
    edges = set()
    for target in named:
        resolved = _resolve(target, modules)
        while resolved:
            if resolved != name and resolved not in own_parents:
                edges.add(resolved)
            resolved = resolved.rpartition(".")[0]
    return edges


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph = {name: imports_of(name, modules) for name in modules}
    # The stubs import nothing of ours but each other and their own parents.
    for stub in {t for targets in graph.values() for t in targets if t.startswith(STUBS)}:
        graph.setdefault(stub, set())
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, set(component)) for component in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first member, to name in the failure."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph.get(node, ())):
            if target == start:
                return paths[node] + [start]
            if target in component and target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return sorted(component)


def test_the_graph_sees_relative_function_level_and_parent_imports(tmp_path):
    """The walker itself, on made-up packages: a cycle through a function-level relative
    import and through the __init__ of another module's package is found; a package's
    __init__ importing its own modules is not a cycle."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import f\n")
    (package / "a.py").write_text("def f():\n    from . import b\n")
    (package / "b.py").write_text("from .c import g\n")
    (package / "c.py").write_text("import other.d\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "__init__.py").write_text("from pkg import b\n")
    (tmp_path / "other" / "d.py").write_text("")
    modules = {
        name: tmp_path / path
        for name, path in {
            "pkg": "pkg/__init__.py",
            "pkg.a": "pkg/a.py",
            "pkg.b": "pkg/b.py",
            "pkg.c": "pkg/c.py",
            "other": "other/__init__.py",
            "other.d": "other/d.py",
        }.items()
    }
    assert imports_of("pkg", modules) == {"pkg.a"}  # a package importing its own module
    assert imports_of("pkg.a", modules) == {"pkg.b"}
    assert imports_of("pkg.c", modules) == {"other", "other.d"}
    graph = {name: imports_of(name, modules) for name in modules}
    assert find_cycles(graph) == [["other", "pkg.b", "pkg.c", "other"]]


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_server_imports_only_the_stubs_and_the_shared_package_of_the_client():
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.startswith("trackwire_server")
        for target in targets
        if target.split(".")[0] == "trackwire"
        and target != "trackwire"  # the stubs' parent package, run by importing them
        and not target.startswith(SERVER_MAY_IMPORT)
    )
    assert not wrong, "\n".join(wrong)


def test_the_shared_package_imports_nothing_of_the_client_but_the_stubs():
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.startswith("trackwire_protocol")
        for target in targets
        if target.split(".")[0] in ("trackwire", "trackwire_server")
        and target != "trackwire"
        and not target.startswith(STUBS)
    )
    assert not wrong, "\n".join(wrong)


def test_importing_the_stubs_runs_no_client_module():
    """`trackwire/__init__.py` (run by `import trackwire.v1`) imports nothing at all: the
    public names are loaded on first use."""
    assert import_graph()["trackwire"] == set()


def test_hand_written_modules_are_at_most_500_lines():
    """Client and server alike; generated code (the stubs, the server's generated
    reflection protos) is not hand-written."""
    long = sorted(
        f"{name}: {n} lines"
        for name, path in module_files().items()
        if "generated" not in name.split(".")
        and (n := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert not long, "\n".join(long)
