"""How a simulated resident answers the recommendation question: the response model.

Of those asked, ``[simulation] survey_answer_share`` answer; the rest hang up. An
answer is drawn from ``survey_score_weights`` (the weight at index *n* is score *n*'s)
and keyed as a person keys it: the digit, or 1 then 0 for ten. The same for a caller
whose advisor hung up first and for a resident called back, so both channels answer
alike, and one seed always gives the same answers.
"""

from __future__ import annotations

import random

from callflow.config.models import SimulationConfig
from callflow.providers.sim.draws import weighted_choice


def survey_keys(rng: random.Random, simulation: SimulationConfig) -> str | None:
    """The keys a resident presses for their answer (``"7"``, ``"10"``), or None if they
    hang up instead."""
    if rng.random() >= simulation.survey_answer_share:
        return None
    score = weighted_choice(rng, list(enumerate(simulation.survey_score_weights)))
    return str(score)
