"""The HTTP API for integrations, beside the pages: advisors acting on themselves
(:mod:`.advisor`) and admins managing advisors and callback requests (:mod:`.admin`),
each by a bearer token (:mod:`.tokens`). Both end in :mod:`callflow.web.actions`, the
functions the pages call too."""
