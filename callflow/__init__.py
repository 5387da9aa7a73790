"""Hotline call-flow and callback worker.

The call-flow engine (:mod:`callflow.engine`) is pure; configuration, storage,
telephony providers and the CLI are the shell around it.
"""

__version__ = "0.1.0"
