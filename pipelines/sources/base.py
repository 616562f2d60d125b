"""What every dataset source provides: discovery of its inputs and loading of one input."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from featurizers.shapes import ShapeRecord


class SourceError(ValueError):
    """An input that cannot be read as a shape; the message names the input and the reason."""


@dataclass(frozen=True, order=True)
class SourceInput:
    """One input of a source: the unit the manifest has a row for.

    Attributes:
        shape_id: ``{source}/{native id}``, known before the input is read.
        uri: the file or folder to read.
        category: category given by a side table (generic source), "" otherwise.
    """

    shape_id: str
    uri: str
    category: str = ""


class Source(abc.ABC):
    """A dataset reader. Subclasses are small and stateless, so Beam can pickle them."""

    #: The ``--source`` name; also the first component of every shape id.
    name: str

    @abc.abstractmethod
    def discover(self, location: str) -> list[SourceInput]:
        """All inputs under a folder, glob or list file, sorted by shape id.

        Raises:
            FileNotFoundError: the location matches nothing.
        """

    @abc.abstractmethod
    def load(self, source_input: SourceInput) -> ShapeRecord:
        """Read one input. Raises on unreadable or inconsistent data."""

    def shape_id(self, native_id: str) -> str:
        return f"{self.name}/{native_id}"
