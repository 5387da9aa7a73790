"""A provider whose calls go as the test scripts them: a CallbackDialler with no telephony.

Each resident's number answers with the next scripted result (reached if the
script has run out); an advisor listed in ``unanswered`` never picks up.
``gate`` holds a resident's call open until the test lets it end, so a test
can act while the call is in progress. Every operation is written to
``log`` in order, which is what the tests read.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta

from callflow.engine.vocabulary import AttemptResult
from callflow.providers.port import AdvisorLeg, CallbackCall, ResidentCall


@dataclass
class ScriptedDialler:
    results: dict[str, deque[AttemptResult]] = field(default_factory=lambda: defaultdict(deque))
    unanswered: set[int] = field(default_factory=set)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    talk: timedelta = timedelta(minutes=5)
    log: list[tuple[str, int, int, str]] = field(default_factory=list)
    """(operation, callback_id, attempt_no, detail), in the order they happened."""
    calls: list[CallbackCall] = field(default_factory=list)

    def script(self, number: str, *results: AttemptResult) -> None:
        self.results[number].extend(results)

    async def ring_advisor(self, call: CallbackCall, timeout: timedelta) -> AdvisorLeg | None:
        self.calls.append(call)
        self.log.append(("ring_advisor", call.callback_id, call.attempt_no, str(call.advisor_id)))
        await asyncio.sleep(0)
        if call.advisor_id in self.unanswered:
            return None
        return AdvisorLeg(f"leg-{call.callback_id}-{call.attempt_no}")

    async def dial_resident(self, call: CallbackCall, leg: AdvisorLeg) -> ResidentCall:
        self.log.append(("dial_resident", call.callback_id, call.attempt_no, call.number_e164))
        gate = self.gates.get(call.number_e164)
        if gate is not None:
            await gate.wait()
        queue = self.results[call.number_e164]
        result = queue.popleft() if queue else AttemptResult.REACHED
        talk = self.talk if result is AttemptResult.REACHED else timedelta(0)
        return ResidentCall(result, talk)

    async def hang_up(self, leg: AdvisorLeg) -> None:
        self.log.append(("hang_up", 0, 0, leg.ref))

    def dialled(self, operation: str = "dial_resident") -> list[int]:
        return [callback_id for op, callback_id, _, _ in self.log if op == operation]
