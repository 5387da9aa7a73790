"""What a value in a request must fit before it reaches the store.

A value the database cannot take would otherwise fail in the driver: an id past
the column's integer range overflows SQLite's binding and PostgreSQL's, and
PostgreSQL refuses a NUL in text that SQLite would silently store. The API and
the webhooks refuse such values first, naming the field, the same on either
database.
"""

from __future__ import annotations

MAX_INTEGER = 2**31 - 1
"""The largest SQL ``INTEGER``: advisors' ids, attempt numbers."""
MAX_BIGINT = 2**63 - 1
"""The largest SQL ``BIGINT``: callback requests' ids."""
NUL = "\x00"
"""Refused in any text: PostgreSQL cannot store it."""
