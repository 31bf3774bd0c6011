"""The code checks the project holds itself to, run with the tests so CI enforces them: ruff's
lint rules and formatting over everything Python in the repository, and mypy over the package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["src", "tests", "benchmarks"]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", *CHECKED),
        ("ruff", "format", "--check", *CHECKED),
        ("mypy", "src"),
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_passes(command: tuple[str, ...]) -> None:
    done = _run(*command)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


def _module_imports() -> dict[str, set[str]]:
    """Each newsbot module and the newsbot modules it imports when it is loaded (imports
    inside functions, made when they run, are left out)."""
    package = ROOT / "src" / "newsbot"
    names = {
        ".".join(("newsbot", *path.relative_to(package).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): path
        for path in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in names and t != name}
    return graph


def test_no_import_loop() -> None:
    graph = _module_imports()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for imported in sorted(graph[name]):
            assert imported not in path, "import loop: " + " -> ".join([*path, imported])
            if imported not in done:
                visit(imported, [*path, imported])
        done.add(name)

    for name in sorted(graph):
        visit(name, [name])
    assert graph.get("newsbot.library")  # the walk saw the package
