"""The simulator: the line on a virtual clock, driven by the real engine and the real store.

Callers, advisors and telephones are simulated; the call flow, the matcher, the claim,
the retries and the reports are production code, so a simulated day measures the rules
the line runs, and one seed always gives the same day. Start with
:class:`.simulation.Simulation`, which runs :mod:`.arrivals` (callers), :mod:`.shifts`
(advisors) and :mod:`.callbacks` (the dispatcher's side) on one :mod:`.stage`;
:mod:`.runs` runs whole days, :mod:`.stationary` holds the line against queueing theory,
and :mod:`.provider` serves it as a provider in accelerated real time. :mod:`.console` is
one caller at the keyboard on that simulated line (``callflow phone``).
"""
