"""Where the gateway sends a request: a service in this process, or (later) over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp


@dataclass(frozen=True)
class Route:
    """Requests whose path starts with `prefix` go to `upstream`, path unchanged."""

    prefix: str
    service: str
    upstream: ASGIApp

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")
