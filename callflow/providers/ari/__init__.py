"""Asterisk through ARI: a thin asynchronous client of our own (REST + events websocket).

ari-py is Python 2 only, and its Python 3 successors do not survive a
dropped websocket; this client reconnects and resynchronises by design.
It sits behind the provider port: only the ARI adapter imports it.
"""
