"""Issue 10, finding 1, over real sockets: a 200 MB chunked login, three at once, is cut
off near the 1 MiB limit with 413 and the process keeps its memory.

Embedded here (`panthera up`); a service alone and Envoy's edge in tests/e2e/test_edge.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from panthera.testing.shop import platform
from tests.e2e.edge import RawAnswer, post_chunked, resident_bytes

pytestmark = pytest.mark.e2e

MIB = 2**20


def test_three_200_mb_chunked_logins_at_once_leave_the_embedded_platform_as_it_was(
    tmp_path: Path,
) -> None:
    with platform(tmp_path, "embedded") as running:
        port = urlsplit(running.base).port
        assert port is not None
        before = resident_bytes(running.base)
        with ThreadPoolExecutor(3) as pool:
            answers: list[RawAnswer] = list(
                pool.map(lambda _: post_chunked(port, "/v1/auth/login", total=200 * MIB), range(3))
            )
        after = resident_bytes(running.base)
        assert (httpx.get(f"{running.base}/readyz", timeout=10)).status_code == 200
    for answer in answers:
        assert answer.status == 413
        assert json.loads(answer.body)["status"] == 413
        assert answer.sent < 32 * MIB  # cut off near the limit, plus socket buffers
    assert after - before < 64 * MIB, (before, after)  # the finding: +410 MB
