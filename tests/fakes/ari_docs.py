"""Asterisk 22's own api-docs, read at run time: route a request to its operation and check it.

The fake ARI server trusts nothing it was not told by these documents
(``../shared/ari/api-docs``, beside the checkout; never copied into the
repository). Routing walks the path the way ``ast_ari_invoke`` does — a
literal segment wins over a ``{parameter}``, no backtracking — so an
unknown path is a 404 and a known path with the wrong method a 405, as on
a real server. :func:`check` lists everything in a request the documents do
not allow: an unknown parameter (Asterisk silently ignores it, so the
sender did not get what it meant), a missing required one, a value outside
the allowed list or range, a number that is not a number. Those are the
*violations* a test fails on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_ARI = ROOT.parent / "shared" / "ari"
API_DOCS = SHARED_ARI / "api-docs"
TRACES = SHARED_ARI / "traces"
SHARED_ARI_IS = (
    "the Asterisk api-docs and traces in ../shared/ari, beside the repository; see CONTRIBUTING.md"
)

_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off"}
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str
    """``query``, ``path`` or ``body``."""
    data_type: str
    required: bool
    multiple: bool
    allowed: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of one resource document."""

    resource: str
    nickname: str
    method: str
    path: str
    params: Mapping[str, Param]
    websocket: bool = False

    @property
    def name(self) -> str:
        return f"{self.resource}.{self.nickname}"


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    wildcard: tuple[str, _Node] | None = None
    ops: dict[str, Op] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Routed:
    op: Op
    path_params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class NotRouted:
    status: int
    message: str


def require_shared(folder: Path) -> Path:
    """*folder*, when it is there; otherwise the test needing it stops, saying what to fetch.

    The ARI tests' ground truth lives outside the repository, so a fresh checkout may
    lack it: there they are skipped (everything else still runs), and the message says
    what the folder is. Under ``CI=true`` they fail instead: CI must prove the fake
    against Asterisk's own data, never pass by leaving it out. Raised at import time,
    the skip covers the whole test module.
    """
    if folder.is_dir():
        return folder
    message = f"{folder} is missing: the ARI tests read {SHARED_ARI_IS}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: the ARI tests must run)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


class ApiDocs:
    """The documents of one folder, their operations and the routing tree."""

    def __init__(self, folder: Path = API_DOCS) -> None:
        self.folder = require_shared(folder)
        self.resources: dict[str, Any] = json.loads((folder / "resources.json").read_text())
        self.documents: dict[str, dict[str, Any]] = {}
        self.operations: list[Op] = []
        self._root = _Node()
        for api in self.resources["apis"]:
            name = api["path"].rsplit("/", 1)[-1].split(".", 1)[0]
            document = json.loads((folder / f"{name}.json").read_text())
            self.documents[name] = document
            for entry in document["apis"]:
                for raw in entry["operations"]:
                    op = _operation(name, entry["path"], raw)
                    self.operations.append(op)
                    self._insert(op)

    def _insert(self, op: Op) -> None:
        node = self._root
        for segment in op.path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                if node.wildcard is None:
                    node.wildcard = (segment[1:-1], _Node())
                node = node.wildcard[1]
            else:
                node = node.literal.setdefault(segment, _Node())
        node.ops[op.method] = op

    def route(self, method: str, segments: list[str]) -> Routed | NotRouted:
        """Find the operation for ``method /ari/<segments>``."""
        node = self._root
        found: dict[str, str] = {}
        for segment in segments:
            if segment in node.literal:
                node = node.literal[segment]
            elif node.wildcard is not None:
                name, node = node.wildcard
                found[name] = segment
            else:
                return NotRouted(404, "Resource not found")
        op = node.ops.get(method)
        if op is None:
            return NotRouted(405, "Invalid method")
        return Routed(op, found)

    def document(self, file_name: str, base_path: str) -> dict[str, Any] | None:
        """A document as Asterisk serves it: ``basePath`` names the server it came from."""
        name = file_name.removesuffix(".json")
        if name == "resources":
            source = self.resources
        elif name in self.documents:
            source = self.documents[name]
        else:
            return None
        served = dict(source)
        served["basePath"] = base_path
        return served

    def event_types(self) -> frozenset[str]:
        """Every Event subtype ``events.json`` declares, and its other Message (MissingParams)."""
        models = self.documents["events"]["models"]
        return frozenset(models["Event"]["subTypes"]) | frozenset(
            t for t in models["Message"]["subTypes"] if t != "Event"
        )


def _operation(resource: str, path: str, raw: Mapping[str, Any]) -> Op:
    params: dict[str, Param] = {}
    for p in raw.get("parameters", []):
        allowed = p.get("allowableValues") or {}
        params[p["name"]] = Param(
            name=p["name"],
            kind=p["paramType"],
            data_type=p.get("dataType", "string"),
            required=bool(p.get("required")),
            multiple=bool(p.get("allowMultiple")),
            allowed=tuple(allowed["values"]) if allowed.get("valueType") == "LIST" else None,
            minimum=allowed.get("min") if allowed.get("valueType") == "RANGE" else None,
            maximum=allowed.get("max") if allowed.get("valueType") == "RANGE" else None,
        )
    return Op(
        resource=resource,
        nickname=raw["nickname"],
        method=raw["httpMethod"],
        path=path,
        params=params,
        websocket=bool(raw.get("upgrade")),
    )


def check(op: Op, args: Mapping[str, str], body: Mapping[str, Any] | None) -> list[str]:
    """Everything in the request that the api-docs do not allow (empty when it conforms).

    *args* holds the query parameters, with those sent in a JSON body merged
    in (Asterisk reads them from either); *body* is the JSON object itself.
    """
    problems: list[str] = []
    for name in args:
        param = op.params.get(name)
        if name == "api_key" or (param is not None and param.kind != "body"):
            continue
        problems.append(f"unknown parameter {name!r}")
    for name in body or {}:
        if name not in op.params:
            problems.append(f"unknown body field {name!r}")
    for param in op.params.values():
        if param.kind == "path":
            continue
        if param.kind == "body":
            value = (body or {}).get(param.name)
            if value is None:
                if param.required:
                    problems.append(f"missing required body field {param.name!r}")
            elif param.data_type == "containers" and not (
                isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
            ):
                problems.append(f"{param.name!r} must be an object of strings")
            continue
        if param.name not in args:
            if param.required:
                problems.append(f"missing required parameter {param.name!r}")
            continue
        problems.extend(_check_value(param, args[param.name]))
    return problems


def _check_value(param: Param, raw: str) -> list[str]:
    values = raw.split(",") if param.multiple else [raw]
    problems: list[str] = []
    for value in values:
        if param.data_type in ("int", "long"):
            if not _INTEGER.fullmatch(value):
                problems.append(f"{param.name!r} must be an integer, got {value!r}")
                continue
            number = int(value)
            if param.minimum is not None and number < param.minimum:
                problems.append(f"{param.name!r} must be at least {param.minimum}, got {number}")
            if param.maximum is not None and number > param.maximum:
                problems.append(f"{param.name!r} must be at most {param.maximum}, got {number}")
        elif param.data_type == "boolean" and value.lower() not in _TRUE | _FALSE:
            problems.append(f"{param.name!r} must be a boolean, got {value!r}")
        if param.allowed is not None and value not in param.allowed:
            problems.append(f"{param.name!r} must be one of {list(param.allowed)}, got {value!r}")
    return problems


def is_true(value: str) -> bool:
    """Asterisk's ``ast_true``."""
    return value.lower() in _TRUE
