"""The engine compiled with mypyc passes the engine's whole suite, as the interpreted one
does (``bench/engine.py --compiled`` measures it; the install stays pure Python)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import compiled_engine


@pytest.mark.slow
def test_the_compiled_engine_passes_the_engines_suite(tmp_path: Path) -> None:
    built = compiled_engine.build(tmp_path)
    assert compiled_engine.is_compiled(built)
    # The suite runs in a process that has imported the compiled steps first, so its tests
    # can only be using them.
    run_suite = (
        "import sys, pytest, callflow.engine.flow as flow; "
        "assert flow.__file__.endswith('.so'), flow.__file__; "
        "sys.exit(pytest.main(['tests/engine', '-q', '-n', '0', '-p', 'no:randomly', "
        "'-p', 'no:cacheprovider', '--ignore', 'tests/engine/test_compiled.py']))"
    )
    suite = subprocess.run(
        [sys.executable, "-c", run_suite],
        cwd=built,
        capture_output=True,
        text=True,
        check=False,
    )
    assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout
