"""The operations the client declares exist in Asterisk 22's api-docs, with those parameters."""

from __future__ import annotations

import pytest

from callflow.providers.ari.resources import OPERATIONS, Operation
from tests.fakes.ari_docs import ApiDocs

DOCS = ApiDocs()
DECLARED = {(op.method, op.path): op for op in DOCS.operations}


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_each_operation_is_asterisks_own(operation: Operation) -> None:
    """Method, path and nickname as Asterisk 22 names them; parameters it knows, of the
    kind it expects (a body field sent as a query parameter would be ignored)."""
    declared = DECLARED.get((operation.method, operation.path))
    assert declared is not None, f"{operation} is not in Asterisk 22's api-docs"
    assert (declared.resource, declared.nickname) == (operation.resource, operation.nickname)
    for name in operation.query:
        assert declared.params[name].kind == "query", name
    for name in operation.body:
        assert declared.params[name].kind == "body", name
    required = {p.name for p in declared.params.values() if p.required and p.kind == "query"}
    assert required <= set(operation.query)


def test_the_client_covers_what_the_hotline_needs() -> None:
    names = {f"{op.resource}.{op.nickname}" for op in OPERATIONS}
    assert {
        "channels.answer",
        "channels.play",
        "channels.originate",
        "channels.hangup",
        "channels.list",
        "channels.continueInDialplan",
        "bridges.create",
        "bridges.addChannel",
        "bridges.removeChannel",
        "bridges.startMoh",
        "bridges.list",
        "bridges.destroy",
        "playbacks.stop",
        "asterisk.getInfo",
        "applications.get",
    } <= names
