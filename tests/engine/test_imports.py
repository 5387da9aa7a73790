"""The engine does no I/O, which its imports show: nothing of callflow above it, and no
library beyond the standard one and the holiday calendar."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import callflow

ENGINE = Path(callflow.__file__).parent / "engine"
ALLOWED_CALLFLOW = (
    "callflow.engine",
    "callflow.values",
    "callflow.config.models",
    "callflow.errors",
)
ALLOWED_LIBRARIES = frozenset({"holidays"})
"""Pure data: public holidays by country (``engine/calendar.py``)."""


def imported(path: Path) -> set[str]:
    """Every module *path* imports, by absolute name (``from a import b`` gives ``a.b``
    too, as *b* may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def allowed(name: str) -> bool:
    top = name.split(".", maxsplit=1)[0]
    if top == "callflow":
        return name == "callflow" or any(
            name == prefix or name.startswith(prefix + ".") for prefix in ALLOWED_CALLFLOW
        )
    return top in sys.stdlib_module_names or top == "__future__" or top in ALLOWED_LIBRARIES


def test_the_engine_imports_only_itself_shared_values_and_the_configuration_models() -> None:
    modules = sorted(ENGINE.glob("*.py"))
    assert len(modules) > 10
    wrong = {
        path.name: sorted(name for name in imported(path) if not allowed(name)) for path in modules
    }
    assert {name: bad for name, bad in wrong.items() if bad} == {}


def test_the_check_itself_refuses_a_store_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from sqlalchemy.orm import Session\nfrom callflow.store.models import Call\n"
        "from callflow.config.models import HotlineConfig\n"
    )
    assert sorted(n for n in imported(module) if not allowed(n)) == [
        "callflow.store.models",
        "callflow.store.models.Call",
        "sqlalchemy.orm",
        "sqlalchemy.orm.Session",
    ]
