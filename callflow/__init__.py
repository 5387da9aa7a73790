"""A telephone hotline: the call flow callers hear, queues and advisors, callbacks kept to a
service promise, and the reports a regional authority reviews.

The rules are pure code in :mod:`callflow.engine`; everything else is the shell around
them: :mod:`~callflow.config` (the TOML file), :mod:`~callflow.store` (the database every
process shares), :mod:`~callflow.service` (a call stepped through the engine),
:mod:`~callflow.providers` (Asterisk, Twilio, the simulator, the console phone),
:mod:`~callflow.web` (advisor and admin APIs), :mod:`~callflow.reports` and the
``callflow`` command (:mod:`~callflow.cli`). The callback workers are the ``workers``
package beside this one. Start with ``docs/architecture.md``.
"""

__version__ = "0.1.0"
