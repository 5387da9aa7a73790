"""Phone numbers: who can be called back, how a number is read back, and masking in logs."""

from __future__ import annotations

import re

import pytest

from callflow.values.numbers import (
    CheckedNumber,
    check_callback_number,
    finnish_groups,
    mask_digits,
    mask_numbers_in,
    parse_line_number,
)

MOBILE = "+358401234567"
HELSINKI_LANDLINE = "+35891234567"


class TestCallbackNumbers:
    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("0401234567", MOBILE),
            ("040 123 4567", MOBILE),
            ("040-123-4567", MOBILE),
            ("040 123-4567", MOBILE),
            (" 040 123 4567 ", MOBILE),
            ("+358401234567", MOBILE),
            ("+358 40 123 4567", MOBILE),
            ("+358-40-123-4567", MOBILE),
            ("00358401234567", MOBILE),
            ("00358 40 123 4567", MOBILE),
            ("0501234567", "+358501234567"),
            ("045 123 4567", "+358451234567"),
            ("091234567", HELSINKI_LANDLINE),
            ("09 123 4567", HELSINKI_LANDLINE),
            ("09-123 4567", HELSINKI_LANDLINE),
            ("+358 9 123 4567", HELSINKI_LANDLINE),
            ("00358 9 123 4567", HELSINKI_LANDLINE),
            ("02 123 4567", "+35821234567"),
        ],
    )
    def test_finnish_mobile_and_landline_numbers_are_accepted(self, raw: str, e164: str) -> None:
        """Finnish mobile and landline numbers in any usual form are stored as E.164."""
        checked = check_callback_number(raw)
        assert checked.e164 is not None
        assert (checked.e164, checked.problem) == (e164, None)

    @pytest.mark.parametrize(
        ("raw", "problem"),
        [
            ("", "no number"),
            ("   ", "no number"),
            ("12345", "not a valid phone number"),  # too short
            ("040 12", "not a valid phone number"),  # too short
            ("abc", "not a phone number"),
            ("anonymous", "not a phone number"),  # what some exchanges send as caller ID
            ("unknown", "not a phone number"),
            ("0600 12345", "not a mobile or landline number"),  # premium rate
            ("0600 1 2345", "not a mobile or landline number"),
            ("0700 123 456", "not a mobile or landline number"),  # premium rate
            ("0800 12345", "not a mobile or landline number"),  # freephone
            ("0100 100", "not a mobile or landline number"),  # service number
            ("020 123 456", "not a mobile or landline number"),  # national service number
            ("029 123 4500", "not a mobile or landline number"),  # the line's own kind
            ("112", "not a valid phone number"),  # emergency
            ("116 117", "not a valid phone number"),  # medical helpline
        ],
    )
    def test_numbers_that_cannot_be_called_back_are_refused(self, raw: str, problem: str) -> None:
        """Short, non-numeric, premium-rate and service numbers are refused with a reason."""
        checked = check_callback_number(raw)
        assert checked.e164 is None
        assert (checked.e164, checked.problem) == (None, problem)

    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("+46 70 123 45 67", "SE"),
            ("0046 8 123 456 78", "SE"),
            ("+1 212 555 0123", "US"),
        ],
    )
    def test_foreign_numbers_are_refused_on_a_finnish_only_line(
        self, raw: str, region: str
    ) -> None:
        """With allowed_regions FI, a valid foreign number is refused naming its country."""
        checked = check_callback_number(raw, allowed_regions=("FI",))
        assert (checked.e164, checked.problem) == (None, f"numbers in {region} are not called back")

    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("+46 70 123 45 67", "+46701234567"),
            ("0046 8 123 456 78", "+46812345678"),
            ("040 123 4567", MOBILE),
        ],
    )
    def test_swedish_numbers_are_accepted_when_sweden_is_allowed(self, raw: str, e164: str) -> None:
        """Adding SE to allowed_regions lets Swedish numbers through, Finnish ones still pass."""
        checked = check_callback_number(raw, allowed_regions=["FI", "SE"])
        assert (checked.e164, checked.problem) == (e164, None)

    def test_allowing_sweden_does_not_allow_everyone(self) -> None:
        """A US number stays refused on a FI+SE line."""
        checked = check_callback_number("+1 212 555 0123", allowed_regions={"SE", "FI"})
        assert checked.problem == "numbers in US are not called back"

    def test_refusal_reasons_never_repeat_the_digits(self) -> None:
        """A refusal reason can be logged: it holds no digits of the number."""
        for raw in ("0600 12345", "12345", "+46 70 123 45 67", "0100 100"):
            problem = check_callback_number(raw).problem
            assert problem is not None
            assert not re.search(r"\d", problem), problem

    @pytest.mark.parametrize("raw", ["040 12a 4567", "040 ABC 4567", "0401234567x", "+358 40 ABC"])
    def test_letters_inside_a_number_are_refused_not_guessed(self, raw: str) -> None:
        """Letters are not turned into keypad digits: that would call someone else."""
        assert check_callback_number(raw) == CheckedNumber(None, "not a phone number")


class TestLineNumber:
    @pytest.mark.parametrize(
        "raw", ["+358 29 123 4500", "029 123 4500", "+358291234500", "00358 29 123 4500"]
    )
    def test_line_number_is_read_into_e164(self, raw: str) -> None:
        """The hotline's own number is accepted in national or international form."""
        assert parse_line_number(raw) == "+358291234500"

    def test_a_freephone_line_number_is_accepted(self) -> None:
        """Freephone numbers are valid hotline numbers."""
        assert parse_line_number("0800 12345") == "+35880012345"

    @pytest.mark.parametrize(
        ("raw", "says"),
        [
            ("junk", "is not a phone number"),
            ("", "is not a phone number"),
            ("12", "is not a valid line number"),
            ("+358 600 12345", "is not a valid line number"),
        ],
    )
    def test_junk_is_refused_with_an_example(self, raw: str, says: str) -> None:
        """A bad line number raises ValueError quoting it and showing the right form."""
        with pytest.raises(ValueError, match=re.escape(says)) as caught:
            parse_line_number(raw)
        assert repr(raw) in str(caught.value)
        assert "'+358 29 123 4500'" in str(caught.value)


class TestFinnishGroups:
    @pytest.mark.parametrize(
        ("e164", "groups"),
        [
            (MOBILE, ("040", "123", "4567")),
            ("+358501234567", ("050", "123", "4567")),
            (HELSINKI_LANDLINE, ("09", "123", "4567")),
            ("+358912345678", ("09", "123", "456", "78")),
            ("+3589123456", ("09", "123", "456")),
            ("+358501234", ("050", "1234")),
            ("+3585012345", ("050", "123", "45")),
            ("+35821234567", ("02", "123", "4567")),
        ],
    )
    def test_finnish_numbers_are_grouped_as_finns_say_them(
        self, e164: str, groups: tuple[str, ...]
    ) -> None:
        """Area or operator code with its zero, then threes: 040 123 4567."""
        assert finnish_groups(e164) == groups

    @pytest.mark.parametrize(
        "e164",
        [
            "+358501234",
            "+3585012345",
            "+35850123456",
            "+358501234567",
            "+3585012345678",
            "+35891234",
            "+358912345",
            "+3589123456",
            HELSINKI_LANDLINE,
            "+358912345678",
            "+46701234567",
            "+4681234567",
        ],
    )
    def test_never_a_single_digit_at_the_end(self, e164: str) -> None:
        """However long the number, the last group read back has at least two digits."""
        groups = finnish_groups(e164)
        assert len(groups[-1]) >= 2
        assert all(len(g) <= 4 for g in groups[1:])

    @pytest.mark.parametrize(
        "e164", [MOBILE, HELSINKI_LANDLINE, "+358912345678", "+358501234", "+35821234567"]
    )
    def test_groups_spell_the_national_number(self, e164: str) -> None:
        """Read together, the groups are the number with 0 instead of +358."""
        assert "".join(finnish_groups(e164)) == "0" + e164.removeprefix("+358")

    @pytest.mark.parametrize(
        ("e164", "groups"),
        [
            ("+46701234567", ("+46", "701", "234", "567")),
            ("+46812345678", ("+46", "812", "345", "678")),
            ("+4681234567", ("+46", "812", "345", "67")),
            ("+12125550123", ("+1", "212", "555", "0123")),
        ],
    )
    def test_foreign_numbers_start_with_their_country_code(
        self, e164: str, groups: tuple[str, ...]
    ) -> None:
        """A foreign number is read as +country code, then its digits in threes."""
        assert finnish_groups(e164) == groups


class TestMaskDigits:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("+358401234567", "+*********567"),
            ("0401234567", "*******567"),
            ("040 123 4567", "*** *** *567"),
            ("040-123-4567", "***-***-*567"),
            ("1234", "*234"),
            ("123", "123"),
            ("12", "12"),
            ("", ""),
            ("abc", "abc"),
        ],
    )
    def test_only_the_last_three_digits_stay(self, text: str, masked: str) -> None:
        """Every digit but the last three becomes *, separators stay where they were."""
        assert mask_digits(text) == masked


class TestMaskNumbersIn:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("0401234567", "*******567"),
            ("040 123 4567", "*** *** *567"),
            ("040-123-4567", "***-***-*567"),
            ("09 123 4567", "** *** *567"),
            ("+358401234567", "+*********567"),
            ("+358 40 123 4567", "+*** ** *** *567"),
            ("+358-40-123-4567", "+***-**-***-*567"),
            ("+46 70 123 45 67", "+** ** *** *5 67"),
            ("00358401234567", "***********567"),
            ("00358 40 123 4567", "***** ** *** *567"),
            ("358401234567", "*********567"),  # a country code without the plus
            ("call from 0401234567 ended", "call from *******567 ended"),
            ("numbers 0401234567 and 0501234567", "numbers *******567 and *******567"),
            ("callback 101 for +358401234567", "callback 101 for +*********567"),
            ("caller=0401234567 queue=health", "caller=*******567 queue=health"),
            ("PJSIP/0401234567@trunk", "PJSIP/*******567@trunk"),
            ("PJSIP/+358401234567@trunk", "PJSIP/+*********567@trunk"),
            ("PJSIP/00358401234567@trunk", "PJSIP/***********567@trunk"),
            ("Dial(PJSIP/0401234567@trunk,30)", "Dial(PJSIP/*******567@trunk,30)"),
            ("Local/0401234567@from-internal", "Local/*******567@from-internal"),
            ("tel:+358401234567", "tel:+*********567"),
            ("tel:0401234567", "tel:*******567"),
            ("sip:+358401234567@10.0.0.1:5060", "sip:+*********567@10.0.0.1:5060"),
            ("+358401234567;tag=1", "+*********567;tag=1"),
            ("(0401234567)", "(*******567)"),
            ("'+358401234567'", "'+*********567'"),
            ('{"n": "0401234567"}', '{"n": "*******567"}'),
            ("ValueError: bad number 0401234567", "ValueError: bad number *******567"),
            ("keyed 0401234567#", "keyed *******567#"),
            ("ended 0401234567.", "ended *******567."),
            ("line one\n0401234567\n", "line one\n*******567\n"),
        ],
    )
    def test_phone_numbers_keep_only_their_last_three_digits(self, text: str, masked: str) -> None:
        """Every number-looking run, in any usual form or dial string, is masked."""
        assert mask_numbers_in(text) == masked

    @pytest.mark.parametrize(
        "text",
        [
            "2026-01-12",
            "2026-01-12 10:00:00",
            "2026-01-12 10:00:00.123456",
            "2026-11-23T13:46:12.176+0000",
            "2026-11-23T13:46:12.176000+00:00",
            "2026-01-12T10:00:00+02:00",
            "2026-11-23T14:40:37.341194Z",
            "10:00:00",
            "1795441572.3",
            "channel 1795441572.3 up",
            "Asterisk/1795441572.37",
            "1795441572.123456",
            "PJSIP/trunk-00000012",
            "123e4567-e89b-12d3-a456-426614174000",
            "550e8400-e29b-41d4-a716-446655440000",
            "01234567-89ab-4cde-8f01-234567890123",
            "00000000-0000-0000-0000-000000000000",
            "3 callers",
            "12 callers ahead, 3 free",
            "waited 120 s",
            "id 12345",
            "call-1",
            "0.5",
            "1700000000",
        ],
    )
    def test_dates_ids_and_counts_are_left_alone(self, text: str) -> None:
        """Timestamps, channel ids, UUIDs and small numbers are not mistaken for phones."""
        assert mask_numbers_in(text) == text

    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("call from +358401234567: no answer", "call from +*********567: no answer"),
            ("SIP/0401234567-00000001", "SIP/*******567-00000001"),
            ("pressed 0401234567*", "pressed *******567*"),
            (
                "01234567-89ab-4cde-8f01-234567890123 0401234567",
                "01234567-89ab-4cde-8f01-234567890123 *******567",
            ),
        ],
    )
    def test_numbers_next_to_punctuation_are_masked(self, text: str, masked: str) -> None:
        """A colon, a dash or a star after a number does not hide it; a UUID stays whole."""
        assert mask_numbers_in(text) == masked

    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("(040) 123 4567", "(***) *** *567"),
            ("+358 (0)40 1234567", "+*** (*)** ****567"),
            ("040/1234567", "***/****567"),
            ("caller_0401234567", "caller_*******567"),
            ("358 40 123 4567", "*** ** *** *567"),
            ("01.12.2026 klo 9.00", "01.12.2026 klo 9.00"),
        ],
    )
    def test_other_ways_of_writing_a_number_are_masked(self, text: str, masked: str) -> None:
        """Brackets, (0), slashes or no plus do not hide a number; a dotted date is none."""
        assert mask_numbers_in(text) == masked

    def test_a_timestamp_next_to_a_number_stays_readable(self) -> None:
        """In one line, the timestamp survives while the number is masked."""
        line = "2026-01-12T08:00:00+00:00 channel 1795441572.3 dialled 0401234567"
        assert mask_numbers_in(line) == (
            "2026-01-12T08:00:00+00:00 channel 1795441572.3 dialled *******567"
        )
