"""Where model weights come from, and which device runs the models.

Real runs read weights from a local path or the Hugging Face cache (downloading into it
when the hub is reachable). The cache is looked at first; when the weights are not there,
the hub is asked once, without retries, whether it can serve them, so an offline machine
gets its answer at once. When neither works, ``ModelUnavailableError`` says in one line
which weights are missing and how to provide them, before any work starts.

Torch and transformers are not imported here (``pick_device`` imports torch when called),
so the checks answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


#: The official PartField weights on the Hugging Face hub: (repository, file). NVIDIA
#: non-commercial license.
PARTFIELD_CHECKPOINT = ("mikaelaangel/partfield-ckpt", "model_objaverse.ckpt")


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


def official_partfield_checkpoint() -> Path:
    """The official PartField checkpoint file, from the Hugging Face cache or downloaded.

    Raises:
        ModelUnavailableError: one line saying how to provide the weights.
    """
    repo, filename = PARTFIELD_CHECKPOINT
    return hub_file(repo, filename, what="PartField weights", local_flag="--partfield-checkpoint")


def resolve_dinov2_weights(name_or_path: str) -> Path:
    """The local folder holding a DINOv2 model's config and safetensors weights.

    A local directory is used as is; a hub id is looked up in the Hugging Face cache and,
    when missing there, downloaded into it if the hub answers (``HF_HUB_OFFLINE`` or no
    network fail at once, without retries). Call this before any work; it imports neither
    torch nor transformers, so a missing model is reported at once.

    Raises:
        ModelUnavailableError: one line naming the model and how to provide it.
    """
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        folder = local
    else:
        from huggingface_hub import constants, snapshot_download

        patterns = ["*.json", "*.safetensors"]
        try:
            folder = Path(
                snapshot_download(name_or_path, allow_patterns=patterns, local_files_only=True)
            )
        except Exception:  # not in the cache: download, when the hub answers at once
            reason = hub_unreachable(name_or_path, "config.json")
            if reason is None:
                try:
                    folder = Path(snapshot_download(name_or_path, allow_patterns=patterns))
                except Exception as error:  # gated, missing, interrupted
                    reason = _first_line(error)
            if reason is not None:
                raise ModelUnavailableError(
                    f"DINOv2 model {name_or_path!r} is not available: not a local folder, not "
                    f"in the Hugging Face cache ({constants.HF_HUB_CACHE}) and not "
                    f"downloadable ({reason}); provide it with `hf download {name_or_path}` "
                    "on a machine with network access (same cache), or pass a local folder "
                    "as --dinov2-model, or run with --models random-init"
                ) from None
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise ModelUnavailableError(
            f"DINOv2 model {name_or_path!r}: {folder} lacks config.json or *.safetensors "
            f"weights; download the full model (`hf download {name_or_path}`) or pass another "
            "folder"
        )
    return folder


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
