"""What an advisor hears before they are put through: the whisper, as a prompt.

The advisor picks up not knowing who waits: the whisper says the topic, the
caller's language and how long they have waited, so the first words to the
caller can be the right ones. It is the prompt ``whisper`` of the line's own
(default) language, the language of the advisors' desk, whatever the
caller's; every provider renders it as it renders any prompt (sound files on
Asterisk, ``<Say>`` on Twilio), so the words are the same everywhere.
"""

from __future__ import annotations

import math
from datetime import timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.prompts import PromptRef, PromptValue

WHISPER = "whisper"


def whisper(config: HotlineConfig, topic: str, language: str, waited: timedelta) -> PromptRef:
    """The whisper for a caller of *topic* who chose *language* and has waited *waited*:
    the topic and the language said by name, the wait in whole minutes.

    A topic or language the configuration no longer has (a callback requested before
    it changed) is left unsaid rather than keeping the advisor from the call.
    """
    own = config.line.default_language
    queue = config.queues.get(topic)
    spoken = config.languages.get(language)
    said: dict[str, PromptValue] = {
        "topic": queue.names.get(own, topic) if queue is not None else "",
        "language": spoken.name if spoken is not None else "",
        "minutes": max(0, math.floor(waited.total_seconds() / 60)),
    }
    # Not prompt(): its own argument is called ``language`` too.
    return PromptRef(WHISPER, own, tuple(said.items()))
