"""The layout a reader meets: no import circle among the project's modules (read from their
sources, imports inside functions included), and the README's layout naming every file."""
import ast
import os
import re

from conftest import ROOT

FOLDERS = ("", "lab", "sandbox", "data")       # where the project's modules live


def modules():
    """{path relative to ROOT: source} of every Python file of the project (tests, exercises and
    their solutions aside)."""
    found = {}
    for folder in FOLDERS:
        for name in sorted(os.listdir(os.path.join(ROOT, folder) if folder else ROOT)):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[path] = open(os.path.join(ROOT, path)).read()
    return found


def resolve(dotted, files):
    """The file that `import dotted` loads, or None for a module that is not the project's."""
    parts = dotted.split(".")
    for folder in ("", "lab"):                 # top-level scripts, and lab/'s, which put ROOT on sys.path
        base = os.path.join(folder, *parts)
        for path in (base + ".py", os.path.join(base, "__init__.py")):
            if path in files:
                return path
    return None


def import_graph(files):
    """{file: {files it imports}}: every import statement, at any depth (lazy ones too)."""
    graph = {}
    for path, source in files.items():
        edges = set()
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` imports the submodule pkg/sub.py when there is one
                names = [f"{node.module}.{a.name}" if resolve(f"{node.module}.{a.name}", files) else node.module
                         for a in node.names]
            edges |= {t for t in map(lambda n: resolve(n, files), names) if t and t != path}
        graph[path] = edges
    return graph


def cycles(graph):
    """Every import circle, as a list of files (each found once, from its smallest file)."""
    found = set()

    def walk(start, node, trail):
        for nxt in graph.get(node, ()):
            if nxt == start:
                found.add(tuple(trail))
            elif nxt not in trail and nxt > start:
                walk(start, nxt, trail + [nxt])
    for start in sorted(graph):
        walk(start, start, [start])
    return sorted(found)


def test_the_cycle_finder_finds_a_circle_of_lazy_imports():
    files = {"a.py": "import b\n", "b.py": "def f():\n    from c import x\n", "c.py": "import a\n", "d.py": "import a\n"}
    assert cycles(import_graph(files)) == [("a.py", "b.py", "c.py")]


def test_no_module_of_the_project_imports_itself_through_others():
    assert cycles(import_graph(modules())) == []


def test_the_readme_layout_names_every_script_and_folder():
    readme = open(os.path.join(ROOT, "README.md")).read()
    layout = readme.split("## Layout")[1].split("```")[1]
    named = set(re.findall(r"^(\S+)", layout, re.M))
    top = {p for p in modules() if "/" not in p} | {f + "/" for f in FOLDERS if f}
    assert top <= named, sorted(top - named)
