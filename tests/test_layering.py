"""The floors of the house: which room may import which (DESIGN §2), checked statically.

Every source file's syntax tree is read -- imports inside functions and
classes included, and ``importlib.import_module("...")`` with a literal
name -- and each import of one of our rooms is checked against ``ALLOWED``.
Imports of our rooms must also sit at the top of the file: an import hidden
in a function is how a room slips past its floor.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: room -> rooms it may import. Ground floor: engine and store; then tools; agents; the application.
ALLOWED: dict[str, frozenset[str]] = {
    "engine": frozenset({"engine"}),
    "store": frozenset({"store"}),
    "tools": frozenset({"tools", "engine"}),
    "agents": frozenset({"agents", "tools", "engine", "store"}),
    "autointerp": frozenset({"autointerp", "agents", "tools", "engine", "store"}),
}
ROOMS = tuple(ALLOWED)


def imported_rooms(tree: ast.AST) -> list[tuple[int, str, str, bool]]:
    """``(line, module, room, at_top)`` for every import of one of our rooms in ``tree``."""
    top_level = {id(node) for node in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            room = name.split(".")[0]
            if room in ROOMS:
                at_top = id(node) in top_level or isinstance(node, ast.Call)
                found.append((node.lineno, name, room, at_top))
    return found


def lazy_command_modules() -> list[str]:
    """Module names of the CLI's lazily loaded commands (strings in ``autointerp.cli.app.COMMANDS``)."""
    tree = ast.parse((ROOT / "autointerp" / "cli" / "app.py").read_text())
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Entry"
            and isinstance(node.args[0], ast.Constant)]


def source_files() -> list[Path]:
    return sorted(p for room in ROOMS for p in (ROOT / room).rglob("*.py"))


def violations(path: Path) -> list[str]:
    room = path.relative_to(ROOT).parts[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for line, module, target, at_top in imported_rooms(tree):
        where = f"{path.relative_to(ROOT)}:{line}"
        if target not in ALLOWED[room]:
            out.append(f"{where}: {room} may not import {module} (allowed: {', '.join(sorted(ALLOWED[room]))})")
        elif not at_top:
            out.append(f"{where}: import of {module} inside a function or class; imports go at the top")
    return out


def test_every_room_imports_only_rooms_below_it_at_the_top_of_its_files() -> None:
    files = source_files()
    assert len(files) > 100  # the walk found the source tree
    problems = [v for path in files for v in violations(path)]
    assert not problems, "floors broken (table in tests/test_layering.py):\n" + "\n".join(problems)


def test_the_cli_table_names_existing_top_floor_modules() -> None:
    modules = lazy_command_modules()
    assert "autointerp.cli.explain_cmd" in modules
    for name in modules:
        assert name.startswith("autointerp.cli.")
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), name


def test_importing_the_ground_floor_loads_no_room_above_it() -> None:
    """At run time too: every engine and store module imported, and no tools, agents or autointerp."""
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
               for room in ("engine", "store") for p in (ROOT / room).rglob("*.py")]
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'tools', 'agents', 'autointerp'})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("code, room, expected", [
    ("from store import open_store\n", "engine", "engine may not import store"),
    ("def f():\n    from engine import runner\n", "tools", "inside a function"),
    ("import importlib\nimportlib.import_module('agents.session')\n", "tools", "tools may not import agents"),
    ("from tools.base import ToolContext\n", "agents", None),
])
def test_the_checker_catches_what_it_should(tmp_path, code, room, expected) -> None:
    path = ROOT / room / "_layering_probe.py"
    try:
        path.write_text(code)
        found = violations(path)
    finally:
        path.unlink()
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]
