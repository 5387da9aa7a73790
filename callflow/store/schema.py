"""Every table of the store on one ``metadata``: import this module (not a table module
alone) wherever the whole schema is needed — migrations, a test emptying the database."""

from __future__ import annotations

from callflow.store import (
    line_settings,
    models,
    queue_places,
    report_models,
    sign_ins,
    twilio_tables,
    web_limits,
)
from callflow.store.base import Base

metadata = Base.metadata

__all__ = [
    "line_settings",
    "metadata",
    "models",
    "queue_places",
    "report_models",
    "sign_ins",
    "twilio_tables",
    "web_limits",
]
