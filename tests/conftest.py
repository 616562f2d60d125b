"""Shared test paths. Tests never touch the network or a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
#: ``shared/`` lies beside the project root (CI clones the repo next to it).
SHARED_DIR = Path(os.environ.get("PARTBANK_SHARED", REPO_ROOT.parent / "shared"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ``shared/`` folder; a test that needs it fails if it is missing."""
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared folder not found at {SHARED_DIR} (set PARTBANK_SHARED)")
    return SHARED_DIR
