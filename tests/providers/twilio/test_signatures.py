"""Twilio's signatures: what the line believes, what it refuses."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callflow.errors import WebhookSignatureInvalid
from callflow.providers.twilio.signatures import (
    SIGNATURE_HEADER,
    WebhookVerifier,
    form_pairs,
    sign,
)
from tests.fakes.twilio_server import AUTH_TOKEN, inbound_params, new_call_sid
from tests.providers.twilio.conftest import MOBILE, PUBLIC_URL

PATH = "/twilio/voice/gather"
QUERY = "s=2&pb=p1&k=ask"
URL = f"{PUBLIC_URL}{PATH}?{QUERY}"
FORM = "application/x-www-form-urlencoded"


def params() -> list[tuple[str, str]]:
    return [*inbound_params(new_call_sid(), MOBILE).items(), ("Digits", "1")]


def read(pairs: list[tuple[str, str]], signature: str, **headers: str) -> dict[str, str]:
    verifier = WebhookVerifier(AUTH_TOKEN, PUBLIC_URL)
    sent = {"content-type": FORM, SIGNATURE_HEADER.lower(): signature, **headers}
    form = verifier.parameters(PATH, QUERY, sent, urlencode(pairs).encode())
    return {name: form[name] for name in form}


class TestBelieved:
    def test_a_form_signed_over_the_public_url(self) -> None:
        pairs = params()
        assert read(pairs, sign(AUTH_TOKEN, URL, pairs)) == dict(pairs)

    def test_signed_over_the_url_with_its_port_as_twilio_sometimes_signs(self) -> None:
        """The validator's own leniency holds: the fast check is only a first try."""
        pairs = params()
        with_port = URL.replace("https://hotline.example.fi", "https://hotline.example.fi:443")
        assert read(pairs, sign(AUTH_TOKEN, with_port, pairs))["Digits"] == "1"

    def test_signed_with_sha256_when_the_settings_header_says_so(self) -> None:
        pairs = params()
        signature = RequestValidator(AUTH_TOKEN).compute_signature(URL, dict(pairs), "HMAC_SHA256")
        settings = {"x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_SHA256"}
        assert read(pairs, signature, **settings)["Digits"] == "1"

    def test_a_name_given_twice_is_signed_with_both_values(self) -> None:
        pairs = [*params(), ("Digits", "2")]
        assert read(pairs, sign(AUTH_TOKEN, URL, pairs))["Digits"] == "2"


class TestRefused:
    def test_a_signature_over_other_values(self) -> None:
        pairs = params()
        signature = sign(AUTH_TOKEN, URL, pairs)
        tampered = [(name, "9" if name == "Digits" else value) for name, value in pairs]
        with pytest.raises(WebhookSignatureInvalid, match="does not match"):
            read(tampered, signature)

    def test_a_signature_over_another_step(self) -> None:
        pairs = params()
        with pytest.raises(WebhookSignatureInvalid, match="does not match"):
            read(pairs, sign(AUTH_TOKEN, URL.replace("s=2", "s=3"), pairs))

    def test_an_algorithm_the_library_does_not_know(self) -> None:
        pairs = params()
        settings = {"x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_MD5"}
        with pytest.raises(WebhookSignatureInvalid, match="does not match"):
            read(pairs, sign(AUTH_TOKEN, URL, pairs), **settings)


class TestFormReading:
    @given(st.lists(st.tuples(st.text(), st.text()), max_size=6))
    def test_a_form_reads_back_as_it_was_encoded(self, pairs: list[tuple[str, str]]) -> None:
        assert form_pairs(urlencode(pairs)) == pairs

    @given(st.text(alphabet="ab=&%+2C3;é ", max_size=30))
    def test_any_text_is_read_as_parse_qsl_reads_it(self, text: str) -> None:
        assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)
