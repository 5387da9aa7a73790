"""The configuration's rules across sections, checked one at a time."""

from __future__ import annotations

from datetime import timedelta

from callflow.config.models import PromiseConfig
from callflow.config.rules import promise_fits_day

SAME_DAY = PromiseConfig(
    kind="same_day", cutoff_before_close=timedelta(minutes=30), late_margin=timedelta(hours=2)
)
NEXT_DAY = PromiseConfig(kind="next_working_day")


def test_promise_that_cannot_fit_a_day_is_explained() -> None:
    too_long = SAME_DAY.model_copy(update={"late_margin": timedelta(hours=7)})
    assert promise_fits_day(too_long, timedelta(hours=6)) == [
        "late_margin 7h runs past closing on a day open 6h; make it shorter"
    ]
    assert promise_fits_day(NEXT_DAY, timedelta(hours=6)) == []
