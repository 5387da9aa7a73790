"""The database: the one place every process shares, on SQLite or PostgreSQL alike.

The line's facts live here — calls and their append-only event log, callback requests and
their attempts, advisors and who waits in which queue — and the rules that must hold
across processes are enforced here, in SQL: one open request per number, one claim per
callback (:mod:`.claims`), a lease on every attempt (:mod:`.attempts`), jobs that are safe
to run twice (:mod:`.upkeep`). Start with :mod:`.session` (connecting) and :mod:`.models`;
:mod:`.schema` imports every table.
"""
