"""The hotline's configuration: one TOML file read into typed models, checked whole.

Every part of callflow is driven by :class:`.models.HotlineConfig`, so a mistake is
caught before a line goes live: ``callflow config check`` (:mod:`.check`) lists every
problem with its key path, rules between sections live in :mod:`.rules`, and a key that
has moved says where it lives now (:mod:`.moved`). Start with :mod:`.load`, which finds
and reads the file. This package sits below everything else and imports none of it.
"""
