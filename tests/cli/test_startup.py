"""What a command loads before it starts: the web stack only when it serves the app."""

from __future__ import annotations

import subprocess
import sys

WEB_STACK = ("fastapi", "uvicorn", "jinja2", "sse_starlette")


def test_the_commands_and_the_worker_load_no_web_stack() -> None:
    """``callflow`` starts every command from one module; a worker, ``report`` or
    ``advisors add`` must not wait for FastAPI, uvicorn or the pages' templates."""
    script = (
        "import sys, callflow.cli, callflow.cli.composition, workers.scheduler;"
        f"print(sorted(m for m in {WEB_STACK!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
