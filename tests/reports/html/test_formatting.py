"""Reading a report's values defensively and writing them for people."""

from __future__ import annotations

from decimal import Decimal

from callflow.reports.html.formatting import (
    NO_VALUE,
    duration,
    mapping,
    measure,
    number,
    plain,
    rows,
    share,
    within,
)


def test_only_finite_numbers_are_numbers() -> None:
    """A bool, a string, NaN or infinity is "not measured", never a figure."""
    assert number(3) == 3.0
    assert number(Decimal("0.25")) == 0.25
    for odd in (True, "12", float("nan"), float("inf"), None):
        assert number(odd) is None


def test_a_measure_is_formatted_by_its_name() -> None:
    assert measure("service_level", 0.8) == "80.0%"
    assert measure("promise_kept_share", 0.9) == "90.0%"
    assert measure("asa_s", 95) == "1:35"
    assert measure("offered", 1234) == "1,234"
    assert plain(2.5) == "2.50"


def test_the_abandon_rate_is_a_percentage_as_in_the_text_report() -> None:
    """A breakdown's abandon rate reads 12.5%, as ``callflow report`` prints it, not 0.12."""
    assert measure("abandon_rate", 0.125) == "12.5%"


def test_an_hour_or_more_reads_in_hours() -> None:
    assert duration(3599) == "59:59"
    assert duration(3600) == "1.0 h"


def test_null_is_a_dash_not_zero() -> None:
    assert share(None) == duration(None) == plain(None) == NO_VALUE
    assert within(None) == ""


def test_a_missing_or_misshapen_section_reads_as_no_data() -> None:
    assert mapping(None) == {}
    assert mapping([1]) == {}
    assert rows("text") == []
    assert rows([{"le_s": 10}, 3, "x"]) == [{"le_s": 10}]
