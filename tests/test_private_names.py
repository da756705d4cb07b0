"""No fastload module (nor benchmark script) uses another module's private names (issue 17).

A name starting with ``_`` belongs to its module. Three patterns are refused across
modules: ``from pkg.mod import _name``; ``mod._name`` where ``mod`` is a fastload module
bound by an import; and ``obj._name`` (``obj`` not ``self``/``cls``) where ``_name`` is
defined by some other fastload module but nowhere in this one. Allowed: a package's own
private submodules (its kernels: ``from fastload.volume import _transforms_nb`` inside
``fastload/volume/``), public names of private modules (``fastload._rng``,
``fastload._jit``, ``fastload._workers`` are internal APIs), and anything private to a
third-party library. Where a private is needed across modules, give it a name and a
docstring instead.

``ALLOWED`` lists the uses still being moved by their owners; it may only shrink (drop an
entry when its use is gone; nothing may be added).
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastload"

#: (file, private name) pairs allowed for now; empty: none is left
ALLOWED: set[tuple[str, str]] = set()


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_submodule(package, name):
    folder = ROOT.joinpath(*package.split("."))
    return folder.is_dir() and any(folder.glob(f"{name}.*")) or (folder / name).is_dir()


def _resolve(module, path, node):
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _defined(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__, getattr(obj, "_x")
    return names


def _scan():
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    trees = {p: ast.parse(p.read_text(), str(p)) for p in files}
    defined = {p: _defined(t) for p, t in trees.items()}
    everywhere = set().union(*defined.values())
    found = []
    for path, tree in trees.items():
        rel = path.relative_to(ROOT).as_posix()
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        modules = {}  # local name -> fastload module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(module, path, node)
                if not source.startswith("fastload"):
                    continue
                for alias in node.names:
                    local = alias.asname or alias.name
                    if _is_submodule(source, alias.name):
                        modules[local] = f"{source}.{alias.name}"
                    if not _private(alias.name):
                        continue
                    if source == package and _is_submodule(source, alias.name):
                        continue  # the package's own kernel module
                    found.append((rel, node.lineno, alias.name, f"from {source} import"))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("fastload") and alias.asname:
                        modules[alias.asname] = alias.name
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            value = node.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls"):
                continue
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "super":
                continue
            if isinstance(value, ast.Name) and value.id in modules:
                owner = modules[value.id]
                if owner.rpartition(".")[0] == package and owner.rpartition(".")[2].startswith("_"):
                    continue  # attribute of the package's own private module
                found.append((rel, node.lineno, node.attr, f"{value.id}."))
            elif node.attr not in defined[path] and node.attr in everywhere:
                found.append((rel, node.lineno, node.attr, "attribute of another module's"))
    return found


def test_no_private_names_across_modules():
    bad = [
        f"{rel}:{line}: {how} {name}"
        for rel, line, name, how in _scan()
        if (rel, name) not in ALLOWED
    ]
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_scan_catches_the_patterns(tmp_path, monkeypatch):
    pkg = tmp_path / "fastload"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    for f in ("__init__.py", "a/__init__.py", "b/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "a" / "mod.py").write_text("def _helper():\n    pass\n\nclass K:\n    _slot = 1\n")
    (pkg / "a" / "_kern.py").write_text("def run():\n    pass\n")
    (pkg / "a" / "own.py").write_text("from fastload.a import _kern\n_kern.run()\n")
    (pkg / "b" / "use.py").write_text(
        "from fastload.a.mod import _helper\n"
        "from fastload.a import mod\n"
        "mod._helper()\n"
        "def f(k):\n    return k._slot\n"
    )
    here = sys.modules[__name__]
    monkeypatch.setattr(here, "ROOT", tmp_path)
    monkeypatch.setattr(here, "PACKAGE", pkg)
    got = sorted((rel, name) for rel, _, name, _ in _scan())
    assert got == [
        ("fastload/b/use.py", "_helper"),
        ("fastload/b/use.py", "_helper"),
        ("fastload/b/use.py", "_slot"),
    ]
