"""Dataset sources: each turns a location (folder, glob, list) into shape records."""

from __future__ import annotations

from pipelines.sources.base import Source, SourceError, SourceInput
from pipelines.sources.compat3d import Compat3DSource
from pipelines.sources.find3d import Find3DSource
from pipelines.sources.generic import GenericMeshSource
from pipelines.sources.partnet import PartNetSource

SOURCES: dict[str, type[Source]] = {
    cls.name: cls for cls in (PartNetSource, Compat3DSource, Find3DSource, GenericMeshSource)
}

__all__ = ["SOURCES", "Source", "SourceError", "SourceInput"]
