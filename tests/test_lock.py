"""requirements.lock pins every dependency, and this environment runs what it pins."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
ADVICE = "pyproject.toml and requirements.lock disagree: run scripts/lock and commit the lock"


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name.split("[", 1)[0])] = Version(version.split()[0])
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(text) for text in texts]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    locked = pins()
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in locked]
    assert missing == [], f"{ADVICE} (not pinned: {', '.join(missing)})"
    outside = [
        f"{r} (locked {locked[canonicalize_name(r.name)]})"
        for r in declared()
        if not r.specifier.contains(locked[canonicalize_name(r.name)], prereleases=True)
    ]
    assert outside == [], f"{ADVICE} (outside their range: {', '.join(outside)})"


def test_this_environment_runs_the_pinned_versions() -> None:
    # scripts/install installs with the lock as constraints: what CI tests is what it pins.
    differ = []
    for name, version in pins().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            differ.append(f"{name} (not installed)")
            continue
        if installed != version:
            differ.append(f"{name} {installed} (locked {version})")
    assert differ == [], "run scripts/install dev: " + ", ".join(differ)
