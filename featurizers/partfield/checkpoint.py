"""Reading PartField weights: a bare state_dict file or a Lightning checkpoint, loaded safely."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from pyarrow import fs as pafs
from torch import Tensor


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model; the message names the file and the key."""


@contextmanager
def local_copy(path: str) -> Iterator[str]:
    """A local path to a checkpoint: ``path`` itself, or a temporary copy of a file named
    by a URI (``gs://...``, read through ``pyarrow.fs``)."""
    if "://" not in path:
        yield path
        return
    filesystem, inner = pafs.FileSystem.from_uri(path)
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(path)[1]) as copy:
        with filesystem.open_input_stream(inner) as remote:
            shutil.copyfileobj(remote, copy, length=16 << 20)
        copy.flush()
        yield copy.name


class _Opaque:
    """Stand-in for classes pickled beside the weights (a config object, an enum, ...).

    Whatever the file asks to build with it becomes a plain ``OrderedDict`` holding the
    object's items and attributes, so loading runs no code from the file.
    """

    def __new__(cls, *args: object, **kwargs: object) -> OrderedDict:
        return OrderedDict()


def _load(path: Path) -> object:
    """``torch.load(weights_only=True)``; unknown classes (hyper-parameters) become inert.

    The file is memory-mapped, so tensors that are never used (optimizer state) are not read.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        unknown = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        if not unknown:
            raise
        with torch.serialization.safe_globals([(_Opaque, name) for name in unknown]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _common_prefix(keys: list[str], expected: Mapping[str, Tensor]) -> str:
    """The prefix (such as ``model.``) that maps most checkpoint keys onto expected keys."""
    votes: dict[str, int] = {}
    for key in keys:
        for start in [0] + [i + 1 for i, char in enumerate(key) if char == "."]:
            if key[start:] in expected:
                votes[key[:start]] = votes.get(key[:start], 0) + 1
    return max(votes, key=lambda prefix: (votes[prefix], -len(prefix)), default="")


def read_state_dict(path: str | Path, expected: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Read a checkpoint's weights and check them against a model's state_dict.

    Args:
        path: a ``torch.save``-d state_dict, or a Lightning checkpoint whose ``"state_dict"``
            may carry a prefix such as ``model.`` on every key.
        expected: the model's ``state_dict()`` (names and shapes to match).

    Returns:
        The weights, keyed exactly as ``expected``.

    Raises:
        CheckpointError: a key is missing, unexpected, not a tensor or misshapen.
    """
    path = Path(path)
    content = _load(path)
    if isinstance(content, Mapping) and isinstance(content.get("state_dict"), Mapping):
        content = content["state_dict"]
    if not isinstance(content, Mapping):
        raise CheckpointError(f"{path}: no state_dict found (got {type(content).__name__})")
    prefix = _common_prefix(list(content), expected)
    state = {key.removeprefix(prefix): value for key, value in content.items()}
    where = f" (keys prefixed '{prefix}')" if prefix else ""
    missing = [key for key in expected if key not in state]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"{path}: missing key '{missing[0]}'{more}{where}")
    for key, value in state.items():
        if key not in expected:
            raise CheckpointError(f"{path}: unexpected key '{key}'{where}")
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{path}: key '{key}' is not a tensor{where}")
        if value.shape != expected[key].shape:
            raise CheckpointError(
                f"{path}: key '{key}' has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[key].shape)}{where}"
            )
    return state
