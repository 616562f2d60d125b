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

from schemas.common import ModelUnavailableError, from_hub

if TYPE_CHECKING:
    import torch


#: The official PartField weights on the Hugging Face hub: (repository, file). NVIDIA
#: non-commercial license.
PARTFIELD_CHECKPOINT = ("mikaelaangel/partfield-ckpt", "model_objaverse.ckpt")
#: The files of a DINOv2 model folder: its config and safetensors weights.
DINOV2_FILES = ("*.json", "*.safetensors")


def pick_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a torch device; None or ``"auto"``: CUDA when available, else CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def official_partfield_checkpoint() -> Path:
    """The official PartField checkpoint file, from the Hugging Face cache or downloaded.

    Raises:
        ModelUnavailableError: one line saying how to provide the weights.
    """
    repo, filename = PARTFIELD_CHECKPOINT
    return from_hub(
        repo,
        filename=filename,
        what="PartField weights",
        instead="pass --partfield-checkpoint PATH, or use --models random-init",
    )


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
    folder = (
        local
        if local.is_dir()
        else from_hub(
            name_or_path,
            patterns=DINOV2_FILES,
            what="DINOv2 model",
            instead="pass a local folder as --dinov2-model, or run with --models random-init",
        )
    )
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise ModelUnavailableError(
            f"DINOv2 model {name_or_path!r}: {folder} lacks config.json or *.safetensors "
            f"weights; download the full model (`hf download {name_or_path}`) or pass another "
            "folder"
        )
    return folder
