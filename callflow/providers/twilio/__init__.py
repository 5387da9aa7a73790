"""The line on a Twilio number.

``provider`` puts it together; ``webhooks`` are the HTTP routes (signatures
checked in ``signatures``, parameters in ``params``); ``calls`` steps inbound
calls through the engine and ``twiml`` renders its commands; ``line`` is the
engine's view of queues and staff from the store; ``legs``, ``dialler`` and
``connector`` are the calls the line places (callbacks, advisors for queued
callers) through ``rest``; ``store`` and ``journal`` write Twilio's rows;
``devphone`` plays Twilio's part for rehearsals.
"""
