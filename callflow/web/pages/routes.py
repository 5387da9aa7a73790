"""The pages' routes and assets, mounted on the app beside the API."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from callflow.web.pages import admin, board, contact, desk, line_settings, sign_in
from callflow.web.pages.people import install_page_refusals
from callflow.web.pages.rendering import STATIC


def mount_pages(app: FastAPI) -> None:
    """Sign-in, the desk, the board and the admin pages (the line's live settings among
    them), the public contact page, with their static files."""
    install_page_refusals(app)
    for module in (sign_in, desk, board, admin, line_settings, contact):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
