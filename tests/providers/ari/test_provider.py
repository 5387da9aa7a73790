"""The provider's process set-up: what start made is frozen out of the collector's walks,
and no garbage of it with it."""

from __future__ import annotations

import gc
import weakref

from callflow.providers.ari.provider import freeze_what_start_made


class _Node:
    me: _Node


def test_start_is_frozen_without_its_garbage() -> None:
    kept, dropped = _Node(), _Node()
    kept.me, dropped.me = kept, dropped  # cycles: only a collection frees them
    gone = weakref.ref(dropped)
    del dropped
    try:
        freeze_what_start_made()
        assert gone() is None, "garbage from before the freeze would be kept forever"
        assert gc.get_freeze_count() > 0
        assert not any(obj is kept for obj in gc.get_objects())  # out of every walk
    finally:
        gc.unfreeze()
