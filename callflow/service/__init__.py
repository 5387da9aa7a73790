"""What every provider shares between its wire and the engine: a call stepped through the
engine, with the store's part done in the same transaction.

:class:`.calls.CallHandler` takes a provider's engine events, runs the engine's step,
carries out the store's commands (callback requests, the caller's place in the queue, the
event log) and hands back only the media commands for the provider to carry out, so every
provider logs the same events and keeps the same invariants. :mod:`.arrival` is the one
rule for a call reaching the line (withheld numbers); :mod:`.queue_reads` answers the
engine's question of how a queue stands.
"""
