"""Facts every pipeline records in its run file (`features_run.json`, `ontology_run.json`)."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def package_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """Python's version and each installed package's (None where it is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("partbank", *packages):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions
