"""The engine compiled with mypyc, beside the source tree, for the benchmark and its test.

The engine's types are strict, so mypyc compiles it as it is; the install stays pure
Python (nothing here is imported by the line). :func:`build` copies the package, its
migrations and the project file into a folder of its own and compiles the engine there,
so the compiled engine is used only by what puts that folder first on ``sys.path`` (a
checkout never imports a stray ``.so`` by accident).

``matching.py`` stays interpreted: mypyc's compiled generic dataclass with slots fails at
import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERPRETED = {"matching.py"}
COPIED = ("callflow", "sql", "config", "tests", "bench", "pyproject.toml")
"""What a run from the folder needs: the package, its migrations, the example
configuration, the tests (the engine's suite runs on the build), the benchmarks and
mypy's and pytest's settings."""


def build(into: Path) -> Path:
    """Copy the project into *into* and compile its engine there; returns *into*."""
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)
    modules = sorted(
        str(path.relative_to(into))
        for path in (into / "callflow" / "engine").glob("*.py")
        if path.name not in INTERPRETED
    )
    finished = subprocess.run(
        [sys.executable, "-m", "mypyc", *modules],
        cwd=into,
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"mypyc failed:\n{finished.stdout}\n{finished.stderr}")
    return into


def is_compiled(folder: Path) -> bool:
    """Whether Python started in *folder* imports the engine's steps compiled."""
    found = subprocess.run(
        [sys.executable, "-c", "import callflow.engine.flow as f; print(f.__file__)"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip().endswith(".so")
