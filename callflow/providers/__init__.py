"""Telephony providers: where calls come from and callbacks go out — Asterisk (:mod:`.ari`),
Twilio (:mod:`.twilio`) and the simulator (:mod:`.sim`) — and the console phone.

Each turns its wire events into engine events, has
:class:`~callflow.service.calls.CallHandler` step them, and carries out the commands that
come back; the call-centre rules themselves are the engine's, the same for all. The rest
of callflow reaches a provider through :mod:`.port` (a :class:`~.port.Provider` to run,
a :class:`~.port.CallbackDialler` for the workers). The same file names mean the same
roles in each: ``provider`` puts the line together, ``calls`` steps inbound calls,
``connector`` puts queued callers through to advisors, ``dialler`` places callbacks,
``queue_reads`` says how a queue stands.
"""
