"""The caller ID as a carrier gives it, made the engine's ``CallArrived`` for every provider."""

from __future__ import annotations

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.events import CallArrived
from callflow.service.arrival import call_arrived


@pytest.mark.parametrize("caller_id", ["", "  ", "anonymous", " Restricted ", "+266696687"])
def test_a_withheld_number_has_nothing_to_call_back(config: HotlineConfig, caller_id: str) -> None:
    assert call_arrived(caller_id, config) == CallArrived(None, withheld=True)


def test_a_number_is_kept_to_call_back_in_international_form(config: HotlineConfig) -> None:
    assert call_arrived(" 040 123 4567 ", config) == CallArrived("+358401234567", withheld=False)


def test_a_number_outside_the_allowed_regions_is_not_called_back_nor_withheld(
    config: HotlineConfig,
) -> None:
    """A Swedish number on a line that calls back only in Finland: shown, not withheld, but
    the caller keys in a number if they want a callback."""
    assert call_arrived("+46 70 123 45 67", config) == CallArrived(None, withheld=False)
