"""Static assets under fingerprinted names, cached by browsers for a year.

`site.css` is served as `/static/site.3f2a1b9c0d.css`: a changed file gets a
new name, so a cached copy can never be stale and may be kept `immutable`.
The files are read once at start; nothing is fetched from anywhere else.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


class Assets:
    def __init__(self, root: Path) -> None:
        self.urls: dict[str, str] = {}
        self._files: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix not in (".css", ".js", ".svg", ".png", ".ico"):
                continue
            logical = path.relative_to(root).as_posix()
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            stem, dot, suffix = logical.rpartition(".")
            served = f"{stem}.{digest}{dot}{suffix}"
            media_type = _TYPES.get(path.suffix) or (
                mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            )
            self.urls[logical] = PREFIX + served
            self._files[served] = Asset(body, media_type, f'"{digest}"')

    def url(self, logical: str) -> str:
        """The fingerprinted URL of `logical` (e.g. `css/site.css`); unknown names fail loudly."""
        return self.urls[logical]

    async def serve(self, request: Request) -> Response:
        asset = self._files.get(request.path_params["name"])
        if asset is None:
            return Response("Not found", status_code=404, media_type="text/plain")
        headers = {"Cache-Control": IMMUTABLE, "ETag": asset.etag}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
