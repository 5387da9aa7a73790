"""The line on a Twilio number.

``provider`` puts it together; ``webhooks`` are the HTTP routes (signatures
checked in ``signatures``, parameters in ``params``, many to a commit in
``batches``); ``calls`` steps inbound calls through the engine and ``twiml``
renders its commands; ``queue_reads`` says how a queue stands, from the store;
``legs``, ``dialler`` and ``connector`` are the calls the line places
(callbacks, advisors for queued callers) through ``rest``; ``store`` and
``journal`` write Twilio's rows; ``devphone`` plays Twilio's part for
rehearsals.
"""
