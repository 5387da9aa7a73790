"""Plain values every layer shares: durations as admins write them, phone numbers.

A leaf package: it imports nothing from callflow, so the configuration, the engine and
everything above them can use it without depending on one another.
"""
