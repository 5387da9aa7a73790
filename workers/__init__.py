"""Background work: the callback dispatcher and scheduled jobs.

Processes here only decide *when* to look; the database decides who gets
what (see :func:`callflow.store.claims.claim_next_callback`).
"""
