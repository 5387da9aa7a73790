"""What every HTTP side of the line shares, below both the app and the providers' webhooks.

The advisor API (:mod:`callflow.web`) and a provider's webhooks (Twilio's) answer
a refusal the same way (:mod:`.errors`), limit bodies the same way
(:mod:`.limits`) and hold request values to what the database can store
(:mod:`.bounds`). Kept here, neither side imports the other.
"""
