"""One OpenAPI document for the whole platform, merged from each service's own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def merge_openapi(
    documents: Iterable[dict[str, Any]], *, title: str, version: str
) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Every service of PantheraConnect behind one gateway.",
        },
        "servers": [{"url": "/", "description": "This gateway"}],
        "paths": {},
        "tags": [],
        "components": {},
    }
    seen_tags: set[str] = set()
    for document in documents:
        merged["paths"].update(document.get("paths", {}))
        for tag in document.get("tags", []):
            if tag["name"] not in seen_tags:
                seen_tags.add(tag["name"])
                merged["tags"].append(tag)
        for section, entries in document.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(entries)
    return merged
