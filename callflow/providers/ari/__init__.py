"""The line on Asterisk, through ARI (the Asterisk REST Interface).

``provider`` puts it together: the ``adapter`` runs the line's Stasis application,
``calls`` steps each inbound call through the engine and plays its prompts (``playbacks``,
``sounds``, ``number_words``), ``connector`` rings free advisors for queued callers,
``dialler`` places callbacks and ``queue_reads`` says how a queue stands. Under them is a
thin asynchronous ARI client of our own (``client``, ``resources``, ``stream``,
``events``, ``models``): ari-py is Python 2 only, and its Python 3 successors do not
survive a dropped websocket; this client reconnects and resynchronises by design.
``doctor`` checks that an Asterisk is ready for the line; ``speech`` records a new one's
sound files.
"""
