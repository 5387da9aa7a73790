"""Background work: the callback dispatcher and the scheduled jobs, one worker process each.

Processes here only decide *when* to look; the database decides who gets what (see
:func:`callflow.store.claims.claim_callbacks`), so any number of workers may run on any
number of hosts. Start with :mod:`.scheduler` (one worker process), then
:mod:`.dispatcher` (a claimed callback rung through the provider's dialler) and
:mod:`.jobs` (the reaper, the promise watch, closing time, the nightly purge).
"""
