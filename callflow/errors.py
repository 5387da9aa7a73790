"""Errors callflow raises, as one small tree.

::

    CallflowError
    ├── ConfigError                 the configuration file is missing or wrong
    │   └── SettingRefused          a live change would break a rule: nothing stored
    ├── StoreError                  the database refused or is unreachable
    │   ├── MigrationError          the schema could not be brought up to date
    │   ├── DuplicatePendingCallback  the number already has a pending callback
    │   ├── LeaseLost               a worker no longer holds the callback it works on
    │   ├── UnknownAdvisor          no advisor by that name or id
    │   ├── UnknownCallback         no callback request by that id
    │   ├── CallbackClosed          the request is already finished
    │   ├── UnknownChange           no change to the line's settings by that id
    │   └── AssignmentError         what an advisor asked cannot be done now
    │       ├── AdvisorBusy         they hold a callback and must finish it first
    │       ├── NotYourAssignment   the callback is assigned to someone else
    │       └── OutcomeNotAllowed   too early (not dialled yet) or already recorded
    ├── CalendarError               the line does not open within the horizon
    ├── InputError                  a request from outside is not one we can accept
    │   ├── MalformedWebhook        a provider's webhook lacks a parameter or has a bad one
    │   └── WebhookSignatureInvalid the webhook is not signed by the provider (or was altered)
    └── ProviderError               the telephony provider failed us
        ├── ProviderUnavailable     unreachable, timed out or not ready: try again later
        └── ProviderRejected        it answered and refused the request (status, its message)
            ├── ChannelGone         the channel hung up or left our application: the normal race
            └── PlaybackGone        the prompt already ended (or never started)

Each class has a stable ``slug`` so logs, HTTP answers and scripts can match
on it without parsing messages. Bad *caller* input (wrong digits, silence) is
not an exception: the engine answers it with prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class CallflowError(Exception):
    """Base of every error callflow raises on purpose."""

    slug = "callflow-error"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration: where, what was found, what is allowed."""

    path: str
    value: object
    allowed: str

    def __str__(self) -> str:
        shown = "(missing)" if self.value is MISSING else repr(self.value)
        return f"{self.path}: {shown} — {self.allowed}"


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


MISSING: object = _Missing()
"""The value of a :class:`Problem` whose key is absent."""


class ConfigError(CallflowError):
    """The configuration cannot be used; ``problems`` lists every reason."""

    slug = "config-invalid"

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")

    @property
    def headline(self) -> str:
        """What a person is told above the problems."""
        return f"configuration {self.source} has {len(self.problems)} problem(s):"


class SettingRefused(ConfigError):
    """A change to the line's live settings that would break a rule of ``callflow config
    check``; each problem names the setting's key and why. Nothing was stored."""

    slug = "setting-refused"

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("change refused", problems)

    @property
    def headline(self) -> str:
        return f"change refused, nothing stored; {len(self.problems)} problem(s):"


class StoreError(CallflowError):
    slug = "store-error"


class MigrationError(StoreError):
    slug = "migration-failed"


class DuplicatePendingCallback(StoreError):
    """The number already has a pending callback (one per number, all queues)."""

    slug = "callback-duplicate"

    def __init__(self, callback_id: int) -> None:
        self.callback_id = callback_id
        super().__init__(f"a pending callback (id {callback_id}) exists for this number")


class LeaseLost(StoreError):
    """The callback is no longer this worker's to touch: its lease expired or moved on."""

    slug = "lease-lost"

    def __init__(self, callback_id: int, why: str) -> None:
        self.callback_id = callback_id
        super().__init__(f"callback {callback_id} is not leased to this worker: {why}")


class UnknownAdvisor(StoreError):
    slug = "advisor-unknown"

    def __init__(self, name_or_id: str) -> None:
        self.name_or_id = name_or_id
        super().__init__(f"no advisor {name_or_id!r}; `callflow advisors list` shows them")


class AdvisorDisabled(StoreError):
    """A way in (a token, a password link) asked for an advisor who is disabled."""

    slug = "advisor-disabled"

    def __init__(self, name: str, advisor_id: int, what: str) -> None:
        self.advisor_id = advisor_id
        super().__init__(
            f"advisor {name} (id {advisor_id}) is disabled; {what} would not let them in"
        )


class UnknownCallback(StoreError):
    slug = "callback-unknown"

    def __init__(self, callback_id: int) -> None:
        self.callback_id = callback_id
        super().__init__(f"no callback request {callback_id}; `callflow callbacks list` shows them")


class CallbackClosed(StoreError):
    slug = "callback-closed"

    def __init__(self, callback_id: int, status: str) -> None:
        self.callback_id = callback_id
        self.status = status
        super().__init__(
            f"callback {callback_id} is already {status}; only an open request can be "
            "cancelled, nothing changed"
        )


class AssignmentError(StoreError):
    """An advisor's request that conflicts with where their assignment stands."""

    slug = "assignment-conflict"


class AdvisorBusy(AssignmentError):
    slug = "advisor-busy"

    def __init__(self, advisor_id: int) -> None:
        self.advisor_id = advisor_id
        super().__init__(
            f"advisor {advisor_id} holds a callback; record its outcome before stepping away"
        )


class NotYourAssignment(AssignmentError):
    slug = "assignment-not-yours"

    def __init__(self, callback_id: int) -> None:
        self.callback_id = callback_id
        super().__init__(f"callback {callback_id} is not assigned to you")


class OutcomeNotAllowed(AssignmentError):
    slug = "outcome-not-allowed"

    def __init__(self, callback_id: int, why: str) -> None:
        self.callback_id = callback_id
        super().__init__(f"cannot record an outcome for callback {callback_id}: {why}")


class UnknownChange(StoreError):
    """No change to the line's settings has that id (or it is a reload, which has no
    value to put back)."""

    slug = "change-unknown"

    def __init__(self, change_id: int) -> None:
        self.change_id = change_id
        super().__init__(f"no change {change_id} to undo; `callflow config history` lists them")


class CalendarError(CallflowError):
    """The calendar cannot answer: the line does not open within the search horizon."""

    slug = "calendar-no-opening"


class InputError(CallflowError):
    """A request from outside (a webhook, an API call) that cannot be accepted as it is."""

    slug = "input-invalid"


class MalformedWebhook(InputError):
    """A webhook's parameters are missing or not what the provider sends; nothing was done."""

    slug = "webhook-malformed"


class WebhookSignatureInvalid(InputError):
    """A webhook without a valid provider signature: not from the provider, or altered."""

    slug = "webhook-signature-invalid"


class ProviderError(CallflowError):
    """The telephony provider (Asterisk, Twilio) did not do what was asked."""

    slug = "provider-error"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or is not ready; the request may be retried."""

    slug = "provider-unavailable"


class ProviderRejected(ProviderError):
    """The provider answered and refused: *status* is its HTTP status, *message* its words.

    *operation* names what was asked without ids or numbers (``POST
    /channels/{channelId}/answer``), so the error can be logged as it is;
    *code* is the provider's own error code when it has one.
    """

    slug = "provider-rejected"

    def __init__(
        self,
        provider: str,
        status: int,
        message: str,
        *,
        operation: str | None = None,
        code: str | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.message = message
        self.operation = operation
        self.code = code
        asked = f" {operation}" if operation else ""
        coded = f" (code {code})" if code else ""
        super().__init__(f"{provider} refused{asked}: {status} {message}{coded}")


class ChannelGone(ProviderRejected):
    """The channel has hung up or left our application since we last heard of it.

    The normal race of a caller hanging up while a request is on its way:
    whoever catches it closes the call, nothing else is wrong.
    """

    slug = "channel-gone"


class PlaybackGone(ProviderRejected):
    """The playback to stop or control has already finished (or was never started)."""

    slug = "playback-gone"
