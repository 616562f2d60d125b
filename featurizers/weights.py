"""Where model weights come from, and which device runs the models.

Real runs read weights from a local path or the Hugging Face cache (downloading into it
when the hub is reachable). The cache is looked at first; when the weights are not there,
the hub is asked once, without retries, whether it can serve them, so an offline machine
gets its answer at once. When neither works, ``ModelUnavailableError`` says in one line
which weights are missing and how to provide them, before any work starts.

Torch is imported only by ``pick_device``, so the checks stay light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class ModelUnavailableError(RuntimeError):
    """Model weights are neither local nor cached, and cannot be downloaded."""


def pick_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a torch device; None or ``"auto"``: CUDA when available, else CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def hub_file(repo_id: str, filename: str, *, what: str, local_flag: str) -> Path:
    """A file of a Hugging Face hub repository, from the cache or downloaded into it.

    Args:
        repo_id, filename: the file on the hub.
        what: the model's name for the error message ("PartField weights").
        local_flag: the option that gives a local file instead ("--partfield-checkpoint").

    Raises:
        ModelUnavailableError: one line naming the file and the ways to provide it.
    """
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename)
    if isinstance(cached, str):
        return Path(cached)
    reason = hub_unreachable(repo_id, filename)
    if reason is None:
        try:
            return Path(hf_hub_download(repo_id, filename))
        except Exception as error:  # gated, missing, interrupted
            reason = _first_line(error)
    raise ModelUnavailableError(
        f"{what} unavailable: {repo_id}/{filename} is not in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}) and cannot be downloaded ({reason}); run "
        f"`hf download {repo_id} {filename}` where the hub is reachable, pass "
        f"{local_flag} PATH, or use --models random-init"
    )


def hub_unreachable(repo_id: str, filename: str) -> str | None:
    """Why the hub cannot serve a file right now, asked once without retries; None if it can.

    ``HF_HUB_OFFLINE`` answers without asking.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename), retry_on_errors=False)
    except Exception as error:  # offline, unreachable, gated, missing
        return _first_line(error)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
