"""Twilio's request signatures: checked on every webhook, made by the dev phone and tests.

Twilio signs the URL it requested — scheme, host, path and query exactly as
it called them — followed by each form parameter's name and value, sorted
by name, with HMAC-SHA1 keyed by the account's auth token
(``X-Twilio-Signature``). A JSON body is covered instead by a ``bodySHA256``
query parameter, its SHA-256. Behind a proxy the server sees another URL
than the one Twilio requested, so the signed URL is rebuilt from the
configured ``public_url`` and the path and query as received; a URL the
proxy changed in any other way does not validate, and that is the point.

The twilio library's :class:`RequestValidator` does the arithmetic; this
module only decides what it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus

from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import (  # type: ignore[import-untyped]
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from callflow.errors import MalformedWebhook, WebhookSignatureInvalid

SIGNATURE_HEADER = "X-Twilio-Signature"

Params = ImmutableMultiDict[str, str]
"""A webhook's parameters; a name may repeat, as in any form."""


class WebhookVerifier:
    """Reads a webhook's parameters, refusing any request Twilio did not sign."""

    def __init__(self, auth_token: str, public_url: str, *, enabled: bool = True) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")
        self.enabled = enabled

    def signed_url(self, path: str, query: str) -> str:
        """The URL Twilio requested, as it signed it."""
        return f"{self._public_url}{path}?{query}" if query else f"{self._public_url}{path}"

    def parameters(
        self,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Params:
        """The request's parameters once its signature holds.

        Raises :class:`WebhookSignatureInvalid` for a missing or wrong
        signature, and :class:`MalformedWebhook` for a signed body that is
        not a form or a JSON object.
        """
        url = self.signed_url(path, query)
        is_json = headers.get("content-type", "").split(";")[0].strip() == "application/json"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            if self.enabled:
                raise WebhookSignatureInvalid(
                    "the body is not text Twilio could have signed"
                ) from None
            raise MalformedWebhook("the body is not UTF-8 text") from None
        form = None if is_json else form_pairs(text)
        if self.enabled:
            signature = headers.get(SIGNATURE_HEADER.lower(), "")
            if not signature:
                raise WebhookSignatureInvalid(f"no {SIGNATURE_HEADER} header")
            algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER.lower()))
            if is_json and "bodySHA256=" not in query:
                raise WebhookSignatureInvalid("a JSON body must be covered by bodySHA256")
            signed = text if form is None else _SignedForm(form)
            if not self._holds(url, signed, signature, algorithm):
                raise WebhookSignatureInvalid(f"{SIGNATURE_HEADER} does not match this request")
        return Params(_json_pairs(text) if form is None else form)

    def _holds(self, url: str, signed: str | _SignedForm, signature: str, algorithm: str) -> bool:
        """Whether *signature* is Twilio's for this request.

        A form is first checked against the URL exactly as configured, which is what
        Twilio signs: one HMAC. Only a mismatch goes through the validator's full check
        (the URL with and without its port, an algorithm it does not know), which
        costs twice that and more, and has the last word.
        """
        if isinstance(signed, _SignedForm):
            try:
                expected = self._validator.compute_signature(url, signed, algorithm)
            except ValueError:
                pass  # an algorithm the library does not know: validate() refuses and logs it
            else:
                if hmac.compare_digest(expected.encode(), signature.encode()):
                    return True
        return bool(self._validator.validate(url, signed, signature, algorithm))


class _SignedForm(dict[str, list[str]]):
    """A form's values by name, in the shape the validator reads cheapest (``getall``, as
    Flask's MultiDict has; a mapping without it costs the validator two exceptions per name)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)

    def getall(self, name: str) -> list[str]:
        return self[name]


def form_pairs(text: str) -> list[tuple[str, str]]:
    """A form's (or a query string's) names and values, as ``parse_qsl`` with blank values
    kept reads them; decoding only what is encoded, since every webhook pays for this and
    most of Twilio's values (SIDs, statuses, digits) are plain."""
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((_decoded(name), _decoded(value)))
    return pairs


def _decoded(text: str) -> str:
    return unquote_plus(text) if "%" in text or "+" in text else text


def _json_pairs(text: str) -> list[tuple[str, str]]:
    try:
        document = json.loads(text)
    except ValueError:
        raise MalformedWebhook("the JSON body does not parse") from None
    if not isinstance(document, dict):
        raise MalformedWebhook("the JSON body must be an object of parameters")
    pairs = []
    for name, value in document.items():
        if isinstance(value, dict | list):
            raise MalformedWebhook(f"{name}: a parameter must be a plain value")
        pairs.append((name, "" if value is None else _text(value)))
    return pairs


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sign(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` for a form POST of *params* to *url*, as Twilio makes it."""
    signature: str = RequestValidator(auth_token).compute_signature(url, _SignedForm(params))
    return signature


def sign_json(auth_token: str, url: str, body: str) -> tuple[str, str]:
    """The URL with ``bodySHA256`` added and its signature, for a JSON *body* to *url*."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    covered = f"{url}{'&' if '?' in url else '?'}bodySHA256={digest}"
    signature: str = RequestValidator(auth_token).compute_signature(covered, {})
    return covered, signature
