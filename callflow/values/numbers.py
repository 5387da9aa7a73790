"""Phone numbers: validation for callbacks, Finnish read-back grouping, masking.

Callers type national (``040 123 4567``) or international (``00358…``) forms
on the keypad; caller ID arrives in whatever form the exchange gives. Every
stored number is E.164. A number is good for a callback only if it is a valid
mobile or landline number in an allowed region: no premium-rate or service
numbers, which would cost the line or reach nobody.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

_CALLBACK_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_LINE_TYPES = _CALLBACK_TYPES | {
    PhoneNumberType.UAN,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
}


_NUMBER_CHARACTERS = re.compile(r"\+?[\d\s().\-]+")


@dataclass(frozen=True, slots=True)
class CheckedNumber:
    """The outcome of checking a number someone gave us."""

    e164: str | None
    problem: str | None


def check_callback_number(raw: str, allowed_regions: Collection[str] = ("FI",)) -> CheckedNumber:
    """Can we call *raw* back?  Finnish national forms are read with region FI."""
    return _check_callback_number(raw, tuple(sorted(allowed_regions)))


@lru_cache(maxsize=8192)
def _check_callback_number(raw: str, allowed_regions: tuple[str, ...]) -> CheckedNumber:
    digits = raw.strip()
    if not digits:
        return CheckedNumber(None, "no number")
    if not _NUMBER_CHARACTERS.fullmatch(digits):
        # phonenumbers would read letters as keypad digits and call someone else.
        return CheckedNumber(None, "not a phone number")
    try:
        number = phonenumbers.parse(digits, "FI")
    except phonenumbers.NumberParseException:
        return CheckedNumber(None, "not a phone number")
    if not phonenumbers.is_valid_number(number):
        return CheckedNumber(None, "not a valid phone number")
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_regions:
        return CheckedNumber(None, f"numbers in {region} are not called back")
    if phonenumbers.number_type(number) not in _CALLBACK_TYPES:
        return CheckedNumber(None, "not a mobile or landline number")
    return CheckedNumber(phonenumbers.format_number(number, PhoneNumberFormat.E164), None)


def parse_line_number(raw: str) -> str:
    """The hotline's own number in E.164; raise ``ValueError`` saying why not."""
    try:
        number = phonenumbers.parse(raw, "FI")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            f"{raw!r} is not a phone number; write it like '+358 29 123 4500'"
        ) from exc
    if (
        not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in _LINE_TYPES
    ):
        raise ValueError(f"{raw!r} is not a valid line number; write it like '+358 29 123 4500'")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@lru_cache(maxsize=8192)
def finnish_groups(e164: str) -> tuple[str, ...]:
    """Digit groups for reading a number back, as Finns say them: ``040 123 4567``.

    The area or operator code first (with its leading zero), then the
    subscriber digits in threes, never leaving a lone digit at the end.
    Numbers from other countries are grouped the same way after their
    country code.
    """
    number = phonenumbers.parse(e164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if number.country_code == 358:
        head, _, rest = national.partition(" ")
        return (head, *_threes(re.sub(r"\D", "", rest)))
    return (f"+{number.country_code}", *_threes(str(number.national_number)))


def _threes(digits: str) -> tuple[str, ...]:
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2:] = [groups[-2] + groups[-1]]
    return tuple(g for g in groups if g)


def mask_digits(text: str) -> str:
    """Hide every digit but the last three: ``+358401234567`` → ``+*********567``."""
    total = sum(ch.isdigit() for ch in text)
    seen = 0
    out = []
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 3 else "*")
        else:
            out.append(ch)
    return "".join(out)


PHONE_NUMBER_PATTERN = re.compile(
    r"(?<![A-Za-z0-9+.\-])"  # not in a word, a hex id, 1795441572.3, or PJSIP/trunk-00000012
    r"(?:\+\d{1,3}(?:[ \-]?\(0\))?(?:[ \-/]?\d){5,14}"  # +358 40 123 4567, +358 (0)40 1234567
    r"|\(?0\d{1,3}\)?(?:[ \-/]?\d){5,12}"  # 040-123 4567, (09) 123 4567, 040/1234567, 00358…
    r"|358(?:[ \-]?\d){7,12}"  # 358 40 123 4567
    r"|\d{11,15})"  # any long bare run: 358401234567
    r"(?![A-Za-z0-9]|\.\d)"
)
"""What a phone number looks like in free text, for masking in logs.

Dates and times ("2026-01-12 10:00", "01.12.2026") have too few digits in a
run or dots between them; ids are hex, dotted or dash-suffixed digits. So a
number glued on its left to a letter, a digit or a dash ("x0401234567",
"trunk-0401234567"), or written with dots, is not recognised.
"""

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_MASKABLE = re.compile(rf"(?P<uuid>{_UUID})|(?P<number>{PHONE_NUMBER_PATTERN.pattern})")


def mask_numbers_in(text: str) -> str:
    """Mask every phone-number-looking run in *text*; UUIDs (Asterisk's ids) stay whole."""
    return _MASKABLE.sub(lambda m: m.group(0) if m["uuid"] else mask_digits(m.group(0)), text)


def mask_numbers_within(value: Any) -> Any:
    """*value* with every number in its text masked, in dicts and lists at any depth: free
    text kept with a request or in its log (a reason, an event's data) can hold one."""
    if isinstance(value, str):
        return mask_numbers_in(value)
    if isinstance(value, dict):
        return {key: mask_numbers_within(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_numbers_within(item) for item in value]
    return value
