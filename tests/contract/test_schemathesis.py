"""Issue 10, finding 8: Schemathesis finds nothing against the running platform.

Every check (`--checks all`), a few examples per operation, a fixed seed, as an
admin (the anonymous and customer sides come from Schemathesis's own auth checks),
in both topologies: `panthera up` and `panthera up --distributed` (Envoy in front).
Rate limits are raised for the run: a fuzzer is one client sending a lot. What a
schema cannot foresee is listed in tests/contract/schemathesis.toml.

Every new route must keep this green.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from panthera.testing.shop import Shopper, platform

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261125"
RAISED_LIMITS = {
    "PANTHERA_GATEWAY__RATE_LIMIT_PER_CLIENT": "1000000/minute",
    "PANTHERA_GATEWAY__RATE_LIMIT_PER_ROUTE": "1000000/minute",
    "PANTHERA_USERS__LOGIN_LIMIT_PER_ACCOUNT": "1000000/minute",
    "PANTHERA_USERS__LOGIN_LIMIT_PER_ADDRESS": "1000000/minute",
    # Sign-ups and logins are many: cheap hashing keeps the run short.
    "PANTHERA_USERS__ARGON2_TIME_COST": "1",
    "PANTHERA_USERS__ARGON2_MEMORY_KIB": "1024",
    "PANTHERA_LOG_LEVEL": "WARNING",
}


def schemathesis(base: str, bearer: str, report: Path) -> subprocess.CompletedProcess[str]:
    command = [
        *(sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()"),
        *("--config-file", str(CONFIG), "run", f"{base}/openapi.json"),
        *("--checks", "all", "--seed", SEED, "--no-shrink", "--request-timeout", "40"),
        *("--header", f"Authorization: {bearer}", "--report", "junit"),
        *("--report-dir", str(report)),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("topology", ["embedded", "distributed"])
def test_schemathesis_finds_no_failure(tmp_path: Path, topology: str) -> None:
    with platform(tmp_path, topology, env=RAISED_LIMITS) as running:
        bearer = Shopper(running.base).admin()["Authorization"]
        result = schemathesis(running.base, bearer, tmp_path / "report")
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary
    assert " passed" in result.stdout and "failure" not in result.stdout.split("SUMMARY")[-1]
