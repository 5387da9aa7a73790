"""The call-centre rules as pure code: one call's flow from greeting to advisor or callback,
the queue announcements, who is matched with which advisor, the callback promise, and the
working calendar they all count time on.

Nothing here does I/O or reads a clock, so every rule is tested on values alone and the
simulator measures the very rules the line runs. Start with :func:`.flow.step` (a call's
state, an event and the time in; commands out), then :mod:`.events`, :mod:`.commands` and
:mod:`.state`; :mod:`.matching` pairs waiting callers with free advisors for every provider.
"""
