"""Paths and query strings with control characters are refused (400) before any route runs.

Request bodies refuse them field by field (`kernel.schemas.ApiInput`); a query
parameter would otherwise reach the database as it is, and PostgreSQL refuses NUL
in text with an error (a 500) where SQLite answers.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from panthera.kernel.errors import problem
from panthera.kernel.schemas import has_control_characters


class PlainText:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._hostile(scope):
            response = problem(
                Request(scope), 400, "The path or query may not contain control characters"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _hostile(scope: Scope) -> bool:
        query = scope.get("query_string", b"").decode("latin-1")
        texts = [str(scope["path"])]
        texts += [text for pair in parse_qsl(query, keep_blank_values=True) for text in pair]
        return any(has_control_characters(text) for text in texts)
