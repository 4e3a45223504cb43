"""The package's architecture as tests: layers and acyclic packages (import-linter), no
module importing another package's private names, and the README's map of the code."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "approx"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def test_import_contracts_are_kept():
    """The layer order and acyclic packages of ``pyproject.toml``'s contracts."""
    pytest.importorskip("importlinter", reason="import-linter comes with the test extra")
    beside = Path(sys.executable).with_name("lint-imports")
    lint = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert lint is not None, "import-linter is installed but its lint-imports script is not found"
    done = subprocess.run(
        [lint, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _private_imports(module: str, path: Path) -> list[str]:
    """``from X import _y`` and ``import X._y`` where X is not ``module``'s own package."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("approx"):
            source = node.module
            names = [source + "." + a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("approx")]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if owner != package:
                        found.append(f"{module}:{node.lineno} imports {name}")
                    break
    return found


def test_no_module_imports_another_packages_private_names():
    offences = [o for m, p in _modules().items() for o in _private_imports(m, p)]
    assert offences == []


def test_private_import_check_can_fail(tmp_path):
    """The checker itself finds a private import from another package."""
    bad = tmp_path / "bad.py"
    bad.write_text("from approx.certify.taylor import _secret\nfrom approx.nn import _fused\n")
    assert len(_private_imports("approx.analysis.bad", bad)) == 2
    ok = tmp_path / "ok.py"
    ok.write_text("from approx.nn._fused_numba import NumbaFused\n")
    assert _private_imports("approx.nn.engine", ok) == []


def _readme_map(text: str) -> dict[str, set[str]]:
    """The README's map: package -> the module names listed on its line (before its
    first ``": "``; what follows describes them)."""
    block = re.search(r"<!-- code map -->\n```text\n(.*?)```", text, re.S)
    assert block, "the README has no code map (a ```text block after <!-- code map -->)"
    listed: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        m = re.match(r"[\s│├└─]*([\w/.]+?)/?\s{2,}(.*)$", line)
        if not m:
            continue
        name = m.group(1).removesuffix(".py")
        package = "approx" if name == "approx" else "approx." + name.replace("/", ".")
        mods = re.findall(r"`(\w+)`", m.group(2).split(": ", 1)[0])  # the modules, then words
        listed[package] = set(mods)
    return listed


def _map_errors(text: str, modules: dict[str, Path]) -> tuple[list[str], list[str], list[str]]:
    """Modules missing from the map, listed modules that do not exist, unknown packages."""
    listed = _readme_map(text)
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    missing = []
    for name, path in modules.items():
        if path.name == "__init__.py" or name in ("approx.__main__",):
            continue
        parent, leaf = name.rsplit(".", 1)
        if leaf not in listed.get(parent, set()) and name not in listed:
            missing.append(name)
    stale = [
        f"{package}.{leaf}"
        for package, leaves in listed.items()
        for leaf in leaves
        if f"{package}.{leaf}" not in modules
    ]
    unknown = [p for p in listed if p not in packages and p not in modules]
    return missing, stale, unknown


def test_readme_map_is_the_code_map():
    """Every module has its line in the README's map, and every listed module exists."""
    assert _map_errors((ROOT / "README.md").read_text(), _modules()) == ([], [], [])


def test_map_check_can_fail():
    modules = {
        "approx": PACKAGE / "__init__.py",
        "approx.core": PACKAGE / "core" / "__init__.py",
        "approx.core.validate": PACKAGE / "core" / "validate.py",
        "approx.core.options": PACKAGE / "core" / "options.py",
    }
    text = "<!-- code map -->\n```text\napprox/  x\n└── core/  `validate` `ghost`: words\n```\n"
    assert _map_errors(text, modules) == (["approx.core.options"], ["approx.core.ghost"], [])


#: the longest function body (docstring excluded) a newcomer should have to read at once
MAX_BODY_LINES = 60


def _long_functions(source: str, limit: int) -> list[tuple[str, int]]:
    """Functions whose body, docstring excluded, spans more than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        start = node.body[1].lineno if docstring and len(node.body) > 1 else first.lineno
        if node.end_lineno - start + 1 > limit:
            found.append((node.name, node.end_lineno - start + 1))
    return found


def test_no_function_is_longer_than_a_screen():
    long = {
        name: found
        for name, path in _modules().items()
        if (found := _long_functions(path.read_text(), MAX_BODY_LINES))
    }
    assert long == {}


def test_long_function_check_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    assert _long_functions(f'def f():\n    """Doc."""\n{body}\n', 60) == [("f", 61)]
    assert _long_functions(f'def f():\n    """Doc."""\n{body}\n', 61) == []
