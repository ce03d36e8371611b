"""The house's layering: each package imports only its own layer or the layers below it,
and no module imports project code inside a function (a lazy import that would hide a loop)."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Top to bottom. Entry scripts (train.py, render.py, ...) and scripts/ sit above all of these.
LAYERS = [
    ("apps", "training", "bench", "prep"),
    ("method", "evaluation"),
    ("scene", "gaussian_renderer", "arguments"),
    ("utils",),
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def project_modules():
    for package in RANK:
        folder = os.path.join(ROOT, package)
        for dirpath, _, files in os.walk(folder):
            for name in sorted(files):
                if name.endswith(".py"):
                    yield package, os.path.join(dirpath, name)


def imported_packages(node):
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


MODULES = list(project_modules())


@pytest.mark.parametrize("package, path", MODULES, ids=[os.path.relpath(p, ROOT) for _, p in MODULES])
def test_imports_only_its_layer_or_below(package, path):
    tree = ast.parse(open(path).read(), path)
    upward, lazy = [], []
    for node in ast.walk(tree):
        for imported in imported_packages(node):
            if imported in RANK and RANK[imported] < RANK[package]:
                upward.append(f"line {node.lineno}: {package} imports {imported}")
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for node in ast.walk(function):
            if any(imported in RANK for imported in imported_packages(node)):
                lazy.append(f"line {node.lineno}: project import inside {function.name}()")
    assert not upward and not lazy, "\n".join(upward + lazy)


def test_the_layer_table_covers_every_package():
    packages = {name for name in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, name, "__init__.py"))}
    assert packages - {"tests"} <= set(RANK), packages - set(RANK)
