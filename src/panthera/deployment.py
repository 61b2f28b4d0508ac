"""Which deployment a command acts on, and refusing to invent one.

`panthera up` records the configuration it ran with in its data directory
(`deployment.json`); a later command pointed at that directory (`seed`,
`admin create`, `migrate`, `backup`, ...) acts on the same stores, even when its
own environment says nothing. The environment still wins, variable by variable,
so a container or a Kubernetes job configured by environment alone needs no file.
A command that would otherwise create a new, empty store refuses and names it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from panthera.kernel.settings import Settings

RECORD = "deployment.json"
# Secrets stay out of the file: the admin's first password, and keys that have files.
_NOT_RECORDED = ("PASSWORD", "SECRET", "TOKEN")


def record(settings: Settings, *, topology: str, environment: Mapping[str, str]) -> Path:
    """Write the configuration `up` runs with into its data directory."""
    recorded = {
        name: value
        for name, value in sorted(environment.items())
        if name.startswith("PANTHERA_")
        and name != "PANTHERA_DATA_DIR"
        and not any(word in name for word in _NOT_RECORDED)
    }
    path = settings.data_dir / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"topology": topology, "environment": recorded}, indent=2))
    # A database URL may carry a password: the file is as private as the signing key.
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    source: str  # where the configuration came from, said to the person running the command


def resolve(data_dir: Path | None) -> Resolved:
    """The settings of the deployment at `data_dir` (default: PANTHERA_DATA_DIR, .panthera):
    its recorded configuration under the process's environment."""
    if data_dir is not None:
        os.environ["PANTHERA_DATA_DIR"] = str(data_dir)
    where = Settings().data_dir / RECORD
    if not where.is_file():
        return Resolved(Settings(), "the environment")
    try:
        recorded: dict[str, Any] = json.loads(where.read_text())
        environment = {str(k): str(v) for k, v in recorded["environment"].items()}
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise DeploymentNotFound(f"{where} is not a deployment record: {exc}") from exc
    for name, value in environment.items():
        os.environ.setdefault(name, value)
    return Resolved(Settings(), f"{where} and the environment")


class DeploymentNotFound(RuntimeError):
    pass


def describe_store(url: str, schema: str | None) -> str:
    """A store as a person would name it: a file, or a schema of a PostgreSQL database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {Path(str(parsed.database)).resolve()}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
    return f'schema "{schema}" of PostgreSQL {where}'


async def require_existing(settings: Settings, specs: Mapping[str, Any]) -> list[str]:
    """Describe the store of each service in `specs` (name -> ServiceSpec); raise
    DeploymentNotFound, naming what would be created, when one does not exist yet."""
    found = []
    for name, spec in specs.items():
        url = settings.database_url_for(name, spec.settings_type().database_url)
        schema = settings.schema_for(name)
        store = describe_store(url, schema)
        if not await _exists(url, schema, store):
            raise DeploymentNotFound(
                f"no deployment found: the {name} service has no data in {store}, and this "
                "command would create a new, empty one. Point it at the deployment: "
                "--data-dir (the directory `panthera up` used), or PANTHERA_DATABASE_URL "
                "and PANTHERA_SCHEMA_PREFIX as the deployment's processes have them. To start "
                "a new deployment, `panthera up` or `panthera migrate` creates its stores."
            )
        found.append(store)
    return found


def _file_exists(path: str | None) -> bool:
    return bool(path) and Path(str(path)).is_file()


async def _exists(url: str, schema: str, store: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _file_exists(parsed.database)
    import asyncpg  # type: ignore[import-untyped]

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DeploymentNotFound(f"cannot reach {store}: {exc}") from exc
    try:
        return bool(
            await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
        )
    finally:
        await connection.close()
