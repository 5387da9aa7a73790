"""What each webhook must carry, checked before anything is done with it.

Twilio's parameters (``CallSid``, ``Digits``, ``QueueResult``, ...) and the
ones we put in the URLs we hand it (``s`` the step, ``pb`` the prompt, ...)
are read into typed models; anything missing or out of its form is a
:class:`MalformedWebhook` naming the parameter, answered 400, before the
store is touched. Parameters Twilio adds that we do not use are ignored; a name
given both in the URL and in the body is refused, since either could be meant.

Ids and counts are bounded by the database columns they are looked up in: the
ids in our URLs are signed, so one out of range is our own bug or a forgery
with our token, and a 400 (which Twilio's debugger shows) says so, where an
overflow in the database driver would be a 500. For the same reason no
parameter may hold a NUL character, which PostgreSQL refuses in text.

A step's key (:func:`~callflow.providers.twilio.twiml.step_key`) is made of the
values read here, never of the text that carried them: ``s=0005`` is step 5, as
``s=5`` is, and every value of ours is bounded (a number by its range, a name by
its pattern or its choices), so no key outgrows the column it is kept in.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callflow.errors import MalformedWebhook
from callflow.http.bounds import MAX_BIGINT, MAX_INTEGER, NUL
from callflow.providers.twilio.signatures import Params

CallSid = Annotated[str, Field(pattern=r"^CA[0-9a-f]{32}$")]
AccountSid = Annotated[str, Field(pattern=r"^AC[0-9a-f]{32}$")]
Step = Annotated[int, Field(ge=0, le=1_000_000)]
AdvisorId = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
CallbackId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
AttemptNo = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
Count = Annotated[int, Field(ge=0, le=MAX_INTEGER)]
PlaybackId = Annotated[str, Field(pattern=r"^(p|survey)[0-9]{1,6}$")]
"""The engine's prompt ids: ``p<n>`` in the call flow, ``survey<n>`` in the recommendation
question."""

CallStatus = Literal[
    "queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer",
    "canceled",
]  # fmt: skip
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

AnsweredBy = Literal[
    "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
    "fax", "unknown",
]  # fmt: skip
MACHINES = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)


class _Params(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class CallParams(_Params):
    """What every voice webhook carries."""

    call_sid: CallSid = Field(alias="CallSid")
    account_sid: AccountSid = Field(alias="AccountSid")


class IncomingCall(CallParams):
    """``POST /twilio/voice``: a call to the line's number."""

    from_: str = Field(alias="From", max_length=64)
    to: str = Field(default="", alias="To", max_length=64)


class StepRequest(CallParams):
    """A request for a URL handed out in one of a call's documents (its step ``s``)."""

    step: Step = Field(alias="s")
    playback: PlaybackId | None = Field(default=None, alias="pb")

    def step_query(self) -> dict[str, str | int]:
        """Our parameters of the URL, as the values they were handed out with: what the
        step is known by (see the module docstring)."""
        query: dict[str, str | int] = {"s": self.step}
        if self.playback is not None:
            query["pb"] = self.playback
        return query


class Gathered(StepRequest):
    """A ``<Gather>`` ended: keys pressed (none when it timed out)."""

    digits: str = Field(default="", alias="Digits", pattern=r"^[0-9*#]{0,40}$")
    finished_on_key: str = Field(default="", alias="FinishedOnKey", pattern=r"^[0-9*#]?$")
    wrapped: Literal["ask", "play", "music"] = Field(alias="k")
    in_queue: Literal["1"] | None = Field(default=None, alias="q")

    @property
    def waiting(self) -> bool:
        """Its answer runs as a turn of a queue's waiting (keys around prompts or music
        only ever come there)."""
        return self.wrapped != "ask" or self.in_queue == "1"

    def step_query(self) -> dict[str, str | int]:
        query = {**super().step_query(), "k": self.wrapped}
        if self.in_queue is not None:
            query["q"] = self.in_queue
        return query


class Played(StepRequest):
    """A ``<Redirect>`` after prompts (they have been heard), or the queue's ``waitUrl`` (a
    turn of waiting is over, after prompts when ``pb`` is given)."""


class LeftQueue(CallParams):
    """``<Enqueue>``'s action: the call left the queue, and why."""

    visit: Step = Field(alias="v")
    queue_result: Literal[
        "bridged", "bridging-in-process", "queue-full", "redirected", "leave", "hangup", "error",
        "system-error",
    ] = Field(alias="QueueResult")  # fmt: skip


class Dequeued(CallParams):
    """``<Queue url>``: the caller at the front is about to be joined with an advisor.

    Twilio names the advisor's call that dequeued them (``DequeingCallSid``, spelt
    so) in every such request; that call is what makes the dequeue happen once.
    """

    advisor_id: AdvisorId = Field(alias="advisor")
    dequeuing_call_sid: CallSid = Field(alias="DequeingCallSid")


class StatusCallback(CallParams):
    """``POST /twilio/status``: how a call is going, in (mostly) the order it went."""

    call_status: CallStatus = Field(alias="CallStatus")
    sequence_number: Count | None = Field(default=None, alias="SequenceNumber")
    call_duration: Count | None = Field(default=None, alias="CallDuration")
    answered_by: AnsweredBy | None = Field(default=None, alias="AnsweredBy")
    leg: Literal["advisor", "resident", "connect"] | None = Field(default=None, alias="leg")
    callback_id: CallbackId | None = Field(default=None, alias="cb")
    attempt_no: AttemptNo | None = Field(default=None, alias="n")
    advisor_id: AdvisorId | None = Field(default=None, alias="advisor")
    topic: str | None = Field(default=None, alias="topic", max_length=32)
    language: str | None = Field(default=None, alias="lang", max_length=8)


class CallbackLeg(CallParams):
    """The advisor's or the resident's leg of a callback asks what to do."""

    callback_id: CallbackId = Field(alias="cb")
    attempt_no: AttemptNo = Field(alias="n")
    answered_by: AnsweredBy | None = Field(default=None, alias="AnsweredBy")


class DialEnded(CallbackLeg):
    """A resident's ``<Dial>`` into the callback's conference is over (its ``action``):
    the conference ended with the resident still on the line (``CallStatus``
    ``in-progress``), or with them gone."""

    call_status: CallStatus = Field(alias="CallStatus")
    dial_call_status: Literal[
        "completed", "answered", "busy", "no-answer", "failed", "canceled"
    ] = Field(alias="DialCallStatus")


class LegGathered(Gathered, CallbackLeg):
    """A ``<Gather>`` of the question on a callback's resident leg ended."""


class LegPlayed(Played, CallbackLeg):
    """Words said on a callback's resident leg were heard (a ``<Redirect>`` after them)."""


class ConnectLeg(CallParams):
    """An advisor called for a queued caller has answered."""

    advisor_id: AdvisorId = Field(alias="advisor")
    topic: str = Field(alias="topic", min_length=1, max_length=32)
    language: str = Field(alias="lang", min_length=1, max_length=8)


M = TypeVar("M", bound=_Params)


def read(model: type[M], query: Params, form: Params) -> M:
    """*model* from the URL's query and the body's parameters, a name in only one of them:
    Twilio puts its own in the body and ours stay in the URL, so a name in both is a
    request made some other way, and which value counts would be a guess."""
    in_both = sorted(set(query) & set(form))
    if in_both:
        raise MalformedWebhook(
            f"{', '.join(in_both)}: given both in the URL and in the body; give each once"
        )
    values = {**_single(query), **_single(form)}
    with_nul = sorted(name for name, value in values.items() if NUL in value)
    if with_nul:
        raise MalformedWebhook(f"{', '.join(with_nul)}: a NUL character is not allowed")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise MalformedWebhook("; ".join(_describe(error) for error in exc.errors())) from None


def _single(params: Params) -> dict[str, str]:
    """One value per name; Twilio never repeats the ones we read."""
    return {name: params[name] for name in params}


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    name = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"{name}: required"
    shown = str(error.get("input", ""))
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{name}: {error['msg'].lower()} (got {shown!r})"
