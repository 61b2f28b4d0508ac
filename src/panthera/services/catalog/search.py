"""Full-text product search on each database's own engine.

PostgreSQL: a generated, weighted `tsvector` column with a GIN index and the
`english` configuration (stemming: "shoes" finds "shoe"). When no product
matches every word, `pg_trgm` word similarity on names (GIN-indexed) answers
instead, so that "sandl" still finds sandals; exact words never compete with
look-alikes.
SQLite: an FTS5 table over the same columns with the Porter stemmer, ranked
by BM25 with the same column weights.

Both engines see only the words of the search text, bound as parameters:
operators, quotes and other syntax in the input are dropped, never parsed,
so any input gives a correct (possibly empty) result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from panthera.services.catalog.models import Product

MAX_WORDS = 12
# Letters and digits only: both engines split words at underscores and punctuation.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def words(text: str) -> list[str]:
    """The searchable words of free text, lower-cased, in order, without repeats."""
    unique = dict.fromkeys(_WORD.findall(text.lower()))
    return list(unique)[:MAX_WORDS]


@dataclass(frozen=True)
class Matched:
    """Which products match a search, in the shapes the queries need.

    `where` is a condition on `products` rows; `keys` selects the `pk` of every
    match, unranked, for counting and for orders other than relevance (the
    search runs first, then the sort); `ranked` selects `(pk, rank)` of every
    match; `rank`, where the engine can rank a `products` row in place, is
    that expression, so that a filtered search needs no join. `materialize`
    says whether a search ordered otherwise than by relevance must be run
    first and kept (PostgreSQL), lest the planner walk a sort index across the
    whole table, testing every row against the query. `count_while_ranking`
    says whether the matches are best counted in the pass that orders them
    (PostgreSQL: a GIN index cannot count alone, every match is a row visit)
    rather than apart (SQLite: the FTS index counts without reading a row).
    """

    where: sa.ColumnElement[bool]
    keys: sa.Subquery | sa.CTE
    ranked: sa.Subquery
    rank: sa.ColumnElement[Any] | None = None
    materialize: bool = False
    count_while_ranking: bool = False


class SearchEngine(Protocol):
    def matches(self, text: str) -> Matched | None:
        """Products matching every word; None when the text holds no word at all."""

    def resembles(self, text: str) -> Matched | None:
        """Like `matches`, for names that look like the text (typos); None if unsupported."""


class SqliteSearch:
    """FTS5 with BM25; weights favour name and SKU, then category, then description."""

    _fts = sa.table("products_fts", sa.column("rowid"))

    def matches(self, text: str) -> Matched | None:
        found = words(text)
        if not found:
            return None
        # Each word becomes a quoted FTS5 string: implicit AND, no operator survives.
        expression = " ".join(f'"{word}"' for word in found)
        table: sa.ColumnElement[Any] = sa.literal_column("products_fts")

        def match(name: str) -> sa.ColumnElement[bool]:
            return table.op("MATCH")(sa.bindparam(name, expression))

        # Counting asks the index which rows match, without scoring any of them.
        hits = sa.select(self._fts.c.rowid).select_from(self._fts).where(match("fts_hits"))
        keys = (
            sa.select(self._fts.c.rowid.label("pk"))
            .select_from(self._fts)
            .where(match("fts_keys"))
            .subquery("hits")
        )
        ranked = (
            sa.select(
                self._fts.c.rowid.label("pk"),
                (-sa.func.bm25(table, 10.0, 8.0, 4.0, 1.0)).label("rank"),
            )
            .select_from(self._fts)
            .where(match("fts_query"))
            .subquery("matched")
        )
        return Matched(where=Product.pk.in_(hits), keys=keys, ranked=ranked)

    def resembles(self, text: str) -> Matched | None:
        return None


class PostgresSearch:
    """`tsvector @@ plainto_tsquery` ranked by `ts_rank_cd`; `pg_trgm` for typos if installed."""

    def __init__(self, trigram_schema: str | None = None) -> None:
        if trigram_schema is not None and not _IDENTIFIER.match(trigram_schema):
            raise ValueError(f"unexpected schema name {trigram_schema!r}")
        self.trigram_schema = trigram_schema

    def matches(self, text: str) -> Matched | None:
        found = words(text)
        if not found:
            return None
        vector: sa.ColumnElement[Any] = sa.literal_column("products.search_vector")
        query = sa.func.plainto_tsquery(
            sa.literal_column("'english'::regconfig"), sa.bindparam("ts_query", " ".join(found))
        )
        where = vector.bool_op("@@")(query)
        rank = sa.func.ts_rank_cd(vector, query, 32)
        return _matched(where, rank)

    def resembles(self, text: str) -> Matched | None:
        found = words(text)
        if self.trigram_schema is None or not found:
            return None
        # Word similarity against names only: they are short, so a score means something.
        # `name %> text` (not `text <% name`) is the form the trigram GIN index serves.
        schema = self.trigram_schema
        phrase: sa.BindParameter[str] = sa.bindparam("trigram_query", " ".join(found))
        where = Product.name.bool_op(f"OPERATOR({schema}.%>)")(phrase)
        rank = getattr(sa.func, schema).word_similarity(phrase, Product.name)
        return _matched(where, rank)


def _matched(where: sa.ColumnElement[bool], rank: sa.ColumnElement[Any]) -> Matched:
    keys = sa.select(Product.pk.label("pk")).where(where).subquery("hits")
    ranked = sa.select(Product.pk.label("pk"), rank.label("rank")).where(where)
    return Matched(
        where=where,
        keys=keys,
        ranked=ranked.subquery("matched"),
        rank=rank,
        materialize=True,
        count_while_ranking=True,
    )


async def trigram_schema(conn: AsyncConnection) -> str | None:
    """Where `pg_trgm` is installed, if it is (its functions are called schema-qualified)."""
    found = await conn.scalar(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    )
    return str(found) if found is not None else None
