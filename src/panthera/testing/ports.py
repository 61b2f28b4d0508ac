"""Free local ports for servers a test or a benchmark starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice, in the ephemeral range)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unheld_port() -> int:
    """A free port for a server that binds it only later (a container, Envoy): from below
    the ephemeral range, where no outgoing connection can take it meanwhile."""
    from panthera.supervisor import unheld_port_from  # one rule for the platform and tests

    return unheld_port_from(free_port())


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
