"""The import rules of the layers, checked on the source: a broken one fails here first.

Every module under ``callflow/`` and ``workers/`` is parsed (never imported) and
every import in it read, relative ones resolved, those inside functions and
``TYPE_CHECKING`` blocks included: a lazy import is still a dependency. The
rules (docs/architecture.md):

- no import cycles between packages (inside one package they are its own business);
- the engine is pure: it imports only itself, the shared values, the configuration's
  models and the errors;
- the configuration imports nothing above it;
- a provider imports neither the HTTP app nor the commands, nor another provider
  (only the port they share); the HTTP app imports no provider but the port.

Each rule is also run on a small planted tree that breaks it, so a checker that
has stopped seeing is caught too.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("callflow", "workers")

Imports = Mapping[str, set[str]]
"""Each module's name → the callflow and workers modules it imports."""


# -- reading the tree ------------------------------------------------------------------------


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the top packages under *root*, by its dotted name."""
    names = {}
    for top in TOP_PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def read_imports(root: Path) -> dict[str, set[str]]:
    modules = module_names(root)
    return {
        name: {
            imported
            for imported in _imported(name, path, modules)
            if imported.split(".")[0] in TOP_PACKAGES
        }
        for name, path in modules.items()
    }


def _imported(name: str, path: Path, modules: Mapping[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            for alias in node.names:
                # ``from package import module`` imports the module; anything else is a
                # name of *base*.
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules else base


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        assert module is not None
        return module
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def component(module: str) -> str:
    """The package a module belongs to, as the rules see it: ``callflow.engine``,
    ``callflow.providers.twilio`` (each provider its own), ``callflow.providers.port``,
    ``callflow.errors``, ``workers``."""
    parts = module.split(".")
    if parts[0] != "callflow":
        return parts[0]
    depth = 3 if parts[1:2] == ["providers"] and len(parts) > 2 else 2
    return ".".join(parts[:depth])


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(f"{prefix}.")


# -- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Only:
    """Modules under *of* import nothing of ours but what is *allowed*."""

    of: str
    allowed: tuple[str, ...]

    def broken(self, imports: Imports) -> list[str]:
        return [
            f"{module} imports {imported}"
            for module, targets in sorted(imports.items())
            if within(module, self.of)
            for imported in sorted(targets)
            if not any(within(imported, allowed) for allowed in self.allowed)
        ]


@dataclass(frozen=True, slots=True)
class Never:
    """Modules under *of* import nothing under *refused*, except what is *excepted*."""

    of: str
    refused: tuple[str, ...]
    excepted: tuple[str, ...] = ()

    def broken(self, imports: Imports) -> list[str]:
        return [
            f"{module} imports {imported}"
            for module, targets in sorted(imports.items())
            if within(module, self.of)
            for imported in sorted(targets)
            if any(within(imported, refused) for refused in self.refused)
            and not any(within(imported, excepted) for excepted in self.excepted)
        ]


class ProvidersApart:
    """A provider imports no other provider; what they share is the port."""

    PORT = "callflow.providers.port"

    def broken(self, imports: Imports) -> list[str]:
        return [
            f"{module} imports {imported}"
            for module, targets in sorted(imports.items())
            if within(module, "callflow.providers") and component(module) != self.PORT
            for imported in sorted(targets)
            if within(imported, "callflow.providers")
            and component(imported) not in self._allowed(component(module))
        ]

    def _allowed(self, provider: str) -> set[str | None]:
        return {provider, self.PORT, "callflow.providers"}


class NoCycles:
    """No two packages import each other, directly or round a longer loop."""

    def broken(self, imports: Imports) -> list[str]:
        edges: dict[str, dict[str, str]] = defaultdict(dict)
        for module, targets in sorted(imports.items()):
            for imported in sorted(targets):
                source, target = component(module), component(imported)
                if source != target:
                    edges[source].setdefault(target, f"{module} imports {imported}")
        return [
            " -> ".join(cycle) + ": " + "; ".join(edges[a][b] for a, b in itertools.pairwise(cycle))
            for cycle in _cycles(edges)
        ]


def _cycles(edges: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """One loop through each group of packages that reach each other (the shortest from
    its first package), as ``[a, b, ..., a]``."""
    reach = {node: _reachable(edges, node) for node in edges}
    seen: set[str] = set()
    cycles = []
    for node in sorted(edges):
        if node in seen or node not in reach[node]:
            continue
        group = {other for other in reach[node] if node in reach.get(other, set())}
        seen |= group
        cycles.append(_shortest_loop(edges, node))
    return cycles


def _reachable(edges: Mapping[str, Mapping[str, str]], start: str) -> set[str]:
    found: set[str] = set()
    stack = list(edges.get(start, {}))
    while stack:
        node = stack.pop()
        if node not in found:
            found.add(node)
            stack.extend(edges.get(node, {}))
    return found


def _shortest_loop(edges: Mapping[str, Mapping[str, str]], start: str) -> list[str]:
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for following in sorted(edges.get(path[-1], {})):
            if following == start:
                return [*path, start]
            if following not in path:
                paths.append([*path, following])
    raise AssertionError(f"{start} is on no loop")


RULES = {
    "no-cycles": NoCycles(),
    "engine-is-pure": Only(
        "callflow.engine",
        ("callflow.engine", "callflow.values", "callflow.config.models", "callflow.errors"),
    ),
    "config-imports-nothing-above": Only(
        "callflow.config",
        ("callflow.config", "callflow.values", "callflow.errors", "callflow.logging"),
    ),
    "providers-import-no-web-or-cli": Never("callflow.providers", ("callflow.web", "callflow.cli")),
    "web-imports-no-provider": Never(
        "callflow.web", ("callflow.providers",), excepted=("callflow.providers.port",)
    ),
    "providers-apart": ProvidersApart(),
}


# -- on the tree -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imports() -> dict[str, set[str]]:
    return read_imports(ROOT)


@pytest.mark.parametrize("rule", RULES)
def test_the_tree_keeps_the_rule(imports: Imports, rule: str) -> None:
    broken = RULES[rule].broken(imports)
    assert not broken, f"{rule}:\n  " + "\n  ".join(broken)


def test_the_tree_is_read_whole(imports: Imports) -> None:
    """The reader sees the modules and their imports: lazy ones and relative ones too."""
    assert "callflow.engine.flow" in imports and "workers.dispatcher" in imports
    assert "callflow.providers.port" in imports["workers.dispatcher"]
    # The web stack is imported inside a function, so the commands need not load it.
    assert "callflow.web.app" in imports["callflow.cli.composition"]


# -- on planted trees ------------------------------------------------------------------------


def plant(root: Path, modules: Mapping[str, str]) -> dict[str, set[str]]:
    """A tree of *modules* (dotted name → source), packages made as needed; its imports."""
    for name, source in modules.items():
        parts = name.split(".")
        for depth in range(1, len(parts)):
            package = root.joinpath(*parts[:depth])
            package.mkdir(exist_ok=True)
            (package / "__init__.py").touch()
        (root.joinpath(*parts[:-1]) / f"{parts[-1]}.py").write_text(source, encoding="utf-8")
    (root / "workers").mkdir(exist_ok=True)
    (root / "workers" / "__init__.py").touch()
    return read_imports(root)


LAZY = "def later():\n    from {module} import thing\n"
TYPE_ONLY = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from {module} import Thing\n"


@pytest.mark.parametrize(
    ("rule", "modules", "caught"),
    [
        pytest.param(
            "no-cycles",
            {
                "callflow.store.calls": "from callflow.service import calls\n",
                "callflow.service.calls": LAZY.format(module="callflow.store.calls"),
            },
            "callflow.service -> callflow.store -> callflow.service",
            id="two-packages",
        ),
        pytest.param(
            "no-cycles",
            {
                "callflow.store.a": "import callflow.service.b\n",
                "callflow.service.b": "from callflow.reports import c\n",
                "callflow.reports.c": TYPE_ONLY.format(module="callflow.store.a"),
            },
            "callflow.reports -> callflow.store -> callflow.service -> callflow.reports",
            id="round-three",
        ),
        pytest.param(
            "engine-is-pure",
            {"callflow.engine.flow": LAZY.format(module="callflow.store.models")},
            "callflow.engine.flow imports callflow.store.models",
            id="engine-lazy",
        ),
        pytest.param(
            "engine-is-pure",
            {"callflow.engine.flow": "from ..config import load\n", "callflow.config.load": ""},
            "callflow.engine.flow imports callflow.config.load",
            id="engine-relative",
        ),
        pytest.param(
            "config-imports-nothing-above",
            {"callflow.config.models": TYPE_ONLY.format(module="callflow.engine.calendar")},
            "callflow.config.models imports callflow.engine.calendar",
            id="config",
        ),
        pytest.param(
            "providers-import-no-web-or-cli",
            {"callflow.providers.twilio.provider": "from callflow.web.errors import answer\n"},
            "callflow.providers.twilio.provider imports callflow.web.errors",
            id="provider-web",
        ),
        pytest.param(
            "providers-import-no-web-or-cli",
            {"callflow.providers.sim.runs": LAZY.format(module="callflow.cli.common")},
            "callflow.providers.sim.runs imports callflow.cli.common",
            id="provider-cli",
        ),
        pytest.param(
            "web-imports-no-provider",
            {"callflow.web.app": "from callflow.providers.twilio.provider import Twilio\n"},
            "callflow.web.app imports callflow.providers.twilio.provider",
            id="web",
        ),
        pytest.param(
            "providers-apart",
            {"callflow.providers.sim.calls": "from ..ari import sounds\n"},
            "callflow.providers.sim.calls imports callflow.providers.ari",
            id="provider-provider",
        ),
    ],
)
def test_a_planted_violation_is_caught(
    tmp_path: Path, rule: str, modules: Mapping[str, str], caught: str
) -> None:
    broken = RULES[rule].broken(plant(tmp_path, modules))
    assert [line for line in broken if line.startswith(caught)], broken


def test_what_the_rules_allow_is_not_caught(tmp_path: Path) -> None:
    """A cycle inside one package, the engine on the values, providers and the app on
    the port, one module of a provider on another of it: none of it breaks a rule."""
    imports = plant(
        tmp_path,
        {
            "callflow.store.a": "from callflow.store import b\n",
            "callflow.store.b": "from . import a\n",
            "callflow.engine.flow": "from callflow.values.numbers import x\n"
            "from callflow.config.models import y\nfrom callflow.errors import z\n",
            "callflow.values.numbers": "",
            "callflow.providers.port": "",
            "callflow.providers.ari.dialler": "from callflow.providers.port import Port\n",
            "callflow.providers.sim.console": "from callflow.providers.sim import loop\n",
            "callflow.providers.sim.loop": "",
            "callflow.web.app": "from callflow.providers import port\n",
        },
    )
    assert {rule: RULES[rule].broken(imports) for rule in RULES} == {rule: [] for rule in RULES}
