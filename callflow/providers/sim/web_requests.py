"""Simulated residents who leave a callback request on the line's web page.

``[simulation] web_requests_per_day`` requests a day arrive around the clock, every
day (the page never closes): a Poisson process over the whole day, drawn from the
run's seeded generator. Each comes from a resident with a number of their own, a
language and a topic by the callers' mix (among the queues that take web
requests), and a short description, and is made through
:func:`~callflow.service.web_requests.take_request`, the function the ``/contact``
page calls: the same refusals, the same promise, ``channel = web``. A stored
request then waits in its queue and is dialled back like any other. Nothing is
made while ``[web_requests]`` is off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from ipaddress import IPv6Address

from callflow.providers.sim.callbacks import Callbacks
from callflow.providers.sim.stage import Stage
from callflow.service.rules import RulesInForce
from callflow.service.web_requests import ContactForm, take_request, web_topics
from callflow.store.session import Database

DESCRIPTIONS = {
    "fi": "Haluaisin kysyä asiastani, soittakaa minulle.",
    "sv": "Jag skulle vilja fråga om mitt ärende, ring mig.",
    "en": "I would like to ask about my matter, please call me.",
}
"""What a simulated resident writes; a language without a line here writes the English."""
FIRST_ADDRESS = IPv6Address("2001:db8::1")
"""Each resident writes from an address of their own, in the documentation range."""


class WebResidents:
    """The requests of one simulation, each put on the loop for the instant it is sent."""

    def __init__(
        self,
        stage: Stage,
        database: Database,
        callbacks: Callbacks,
        rules: Callable[[], RulesInForce],
    ) -> None:
        """*rules*: the line's rules in force, asked as each request is sent."""
        self.stage = stage
        self.database = database
        self.callbacks = callbacks
        self.rules = rules
        self._sent = 0

    def schedule_day(self, day: date) -> int:
        """Put *day*'s requests on the loop (none while the page takes none); how many."""
        stage = self.stage
        config = self.rules().config
        per_day = config.simulation.web_requests_per_day
        topics = web_topics(config)
        if not (config.web_requests.enabled and per_day > 0 and topics):
            return 0
        now = stage.clock.now()
        start = stage.calendar.at_minute(day, 0)
        end = stage.calendar.at_minute(day + timedelta(days=1), 0)
        scheduled = 0
        for at in stage.workload.poisson(start, end, per_day):
            if at >= now:
                stage.loop.call_at(at, self._send)
                scheduled += 1
        return scheduled

    def _send(self) -> None:
        """One resident fills in the page and sends it, as the page would hand it on."""
        stage = self.stage
        workload = stage.workload
        rules = self.rules()
        topics = web_topics(rules.config)
        if not (rules.config.web_requests.enabled and topics):
            return  # switched off since the day was planned
        language, topic = workload.language(), workload.topic(among=topics)
        number = workload.numbers.new_number()
        form = ContactForm(
            language=language,
            topic=topic,
            number="0" + number.removeprefix("+358"),
            description=DESCRIPTIONS.get(language, DESCRIPTIONS["en"]),
            consent=True,
        )
        address = str(FIRST_ADDRESS + self._sent)
        self._sent += 1
        stage.batch.commit()  # the page's own transaction: the batch's writes come first
        outcome = take_request(self.database, rules, form, address=address, now=stage.clock.now())
        if outcome.callback_id is None:
            stage.tell("web_request.refused", topic=topic, why=str(outcome.refused))
            return
        stage.tally.web_requests += 1
        workload.numbers.pending[number] = outcome.callback_id
        stage.tell("web_request.stored", callback_id=outcome.callback_id, topic=topic)
        self.callbacks.changed(outcome.callback_id)
