"""Test setup. Tests never touch the network or a GPU, and read nothing outside the repo:
the data they need lies in ``tests/fixtures/`` or is built by the tests themselves."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
