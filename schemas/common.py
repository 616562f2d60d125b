"""Helpers every package needs: one-line errors, model weights from the hub, atomic writes.

They live in ``schemas/`` because it is the one package ``featurizers/``, ``ontology/`` and
``pipelines/`` all import and that imports none of them; like the rest of ``schemas/`` it
needs only the standard library and pyarrow (``huggingface_hub`` is imported when weights
are looked up), never Beam or torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

from pyarrow import fs as pafs

from schemas.locations import Location, LocationLike


class ModelUnavailableError(RuntimeError):
    """Model weights that are neither local nor cached and cannot be downloaded; the message
    is one line saying how to provide them."""


def one_line(error: BaseException | str, limit: int | None = 300) -> str:
    """An error's message (or a text) on one line: every run of whitespace (line breaks
    included) becomes one space, cut to ``limit`` characters; a message-less exception
    gives its type's name."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    return text[:limit]


def hub_unreachable(repo_id: str, filename: str) -> str | None:
    """Why the Hugging Face hub cannot serve a file right now, asked once without retries;
    None when it can. ``HF_HUB_OFFLINE`` answers without asking."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename), retry_on_errors=False)
    except Exception as error:  # offline, unreachable, gated, missing
        return one_line(error)
    return None


def from_hub(
    repo_id: str,
    *,
    what: str,
    instead: str,
    filename: str | None = None,
    patterns: Sequence[str] = (),
) -> Path:
    """One file (``filename``) or a folder of files (``patterns``) of a hub repository.

    The Hugging Face cache is looked at first; when the weights are not there the hub is
    asked once whether it can serve them (``hub_unreachable``), so an offline machine gets
    its answer at once, and then they are downloaded into the cache.

    Args:
        repo_id: the repository on the hub.
        what: the weights' name in the error message ("PartField weights").
        instead: the other ways to run, ending the message ("pass --x PATH, or use ...").
        filename: the file to fetch; None fetches a snapshot folder of ``patterns``.
        patterns: glob patterns of the snapshot's files (``["*.json", "*.safetensors"]``).

    Returns:
        The cached file, or the snapshot's folder.

    Raises:
        ModelUnavailableError: one line naming the weights and how to provide them.
    """
    from huggingface_hub import (
        constants,
        hf_hub_download,
        snapshot_download,
        try_to_load_from_cache,
    )

    def fetch(local_only: bool) -> Path:
        if filename is not None:
            if local_only:
                cached = try_to_load_from_cache(repo_id, filename)
                if not isinstance(cached, str):
                    raise FileNotFoundError(filename)
                return Path(cached)
            return Path(hf_hub_download(repo_id, filename))
        return Path(
            snapshot_download(repo_id, allow_patterns=list(patterns), local_files_only=local_only)
        )

    try:
        return fetch(local_only=True)
    except Exception:  # not in the cache: download, when the hub answers at once
        reason = hub_unreachable(repo_id, filename or "config.json")
    if reason is None:
        try:
            return fetch(local_only=False)
        except Exception as error:  # gated, missing, interrupted
            reason = one_line(error)
    download = f"hf download {repo_id}" + (f" {filename}" if filename else "")
    raise ModelUnavailableError(
        f"{what} {repo_id!r} unavailable: not in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}) and cannot be downloaded ({reason}); run `{download}` "
        f"where the hub is reachable, {instead}"
    )


def write_atomically(location: LocationLike, write: Callable[[Any], None]) -> None:
    """Call ``write(stream)`` on a temporary file beside ``location``, then move it there.

    Readers never see a half-written file; concurrent writers of the same file leave one
    whole file; a failed write leaves the old file (if any) and no temporary. Missing
    parent folders are created.

    Args:
        location: the file: a local path, a URI (``gs://bucket/out/run.json``) or a
            ``Location`` inside any pyarrow filesystem.
        write: writes the whole content into a binary output stream.
    """
    file = Location.of(location)
    filesystem, path = file.filesystem, file.path
    folder, _, name = path.rpartition("/")
    if folder:
        filesystem.create_dir(folder, recursive=True)
    temporary = f"{folder}/.{name}.{uuid4().hex}.tmp"
    try:
        with filesystem.open_output_stream(temporary) as stream:
            write(stream)
        filesystem.move(temporary, path)
    except BaseException:
        if filesystem.get_file_info(temporary).type != pafs.FileType.NotFound:
            filesystem.delete_file(temporary)
        raise
