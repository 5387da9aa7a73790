"""The pages people use in a browser, beside the API: sign-in, the advisor's desk
(``/desk``), the supervisor's wallboard (``/board``) and the admin pages
(``/admin``).

Server-rendered (Jinja2, :mod:`.rendering`) from the same actions as the API
(:mod:`callflow.web.actions`); every asset is served by the app
(``/static``), so they work on a closed intranet. Without JavaScript every
page and form works; with it, the live parts follow the store as it changes
(server-sent events, :mod:`.live`). Who is signed in is :mod:`.people`; the
interface speaks Finnish, Swedish or English (:mod:`.text`).
"""
