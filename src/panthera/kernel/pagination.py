"""The list convention: `page` from 1, bounded `limit`, `{total, page, limit, <items>}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

MAX_LIMIT = 100


@dataclass(frozen=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


async def page_params(  # async: a plain function would run in a thread
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number for pagination")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Number of items per page")] = 10,
) -> Page:
    return Page(page=page, limit=limit)


PageParams = Annotated[Page, Depends(page_params)]
