"""The configuration of one features run, in plain Python (the counterpart of
``ontology.config``): what a run may ask for, where its weights are, and its config hash.

A test builds a ``FeaturesConfig`` from plain values and calls ``validated()``,
``with_weights()`` and ``config_hash`` without a pipeline; ``pipelines.features`` only
turns the command line into these values. Files (weights, the alias log) are looked at
through ``pyarrow.fs`` (``schemas.locations``): local paths and URIs alike. Beam is never
imported here.

The ontology check and fingerprint import ``ontology.alias_map`` when a run names an
ontology (a call, not a module-level dependency of ``featurizers``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from featurizers.weights import (
    ModelUnavailableError,
    official_partfield_checkpoint,
    resolve_dinov2_weights,
)
from schemas.features import SCHEMA_VERSION
from schemas.locations import Location

if TYPE_CHECKING:
    from featurizers.contract import FeaturizerSpec

#: The built-in featurizers, for ``--help`` (which must not load the registry: it imports
#: torch). What a run may ask for is ``featurizers.catalog.FEATURIZERS``.
FEATURIZER_NAMES: tuple[str, ...] = ("rgb", "dinov2", "partfield")
#: Defaults of the flags (the featurizers' own, restated so that ``--help`` loads neither
#: trimesh nor torch; a test checks that they agree).
DEFAULT_SHAPE_POINTS = 10_000  # featurizers.sampling.DEFAULT_SHAPE_POINTS
DEFAULT_PARTFIELD_POINTS = 100_000  # featurizers.partfield.DEFAULT_PARTFIELD_POINTS
DEFAULT_DINOV2_MODEL = "facebook/dinov2-base"  # featurizers.dinov2.DEFAULT_MODEL
#: Bumped when sampling changes the numbers it produces (part of the config hash).
SAMPLER_VERSION = 1


def available_featurizers() -> tuple[str, ...]:
    """The ``--featurizers`` names a run may ask for, without loading the registry when it
    is not loaded yet (its modules import torch): then only the built-in names can exist,
    since registering one more imports the registry."""
    catalog = sys.modules.get("featurizers.catalog")
    return tuple(catalog.FEATURIZERS) if catalog is not None else FEATURIZER_NAMES


class ConfigError(ValueError):
    """Options that cannot run; the message names the flag and why."""


@dataclass(frozen=True)
class FeaturesConfig:
    """One features run: each field is the flag of the same name (``--num-points`` ->
    ``num_points``); ``dinov2_weights`` and ``partfield_weights`` are what
    ``with_weights`` located."""

    output: str
    inputs: tuple[tuple[str, str], ...] = ()  # (source, location)
    featurizers: tuple[str, ...] = ()
    num_points: int = DEFAULT_SHAPE_POINTS
    models: str = "pretrained"
    device: str = "auto"
    model_accelerator: str | None = None
    views: int = 12
    image_size: int = 448
    dinov2_model: str = DEFAULT_DINOV2_MODEL
    dinov2_weights: str | None = None
    emit_views: bool = False
    partfield_checkpoint: str | None = None
    partfield_weights: str | None = None
    partfield_points: int = DEFAULT_PARTFIELD_POINTS
    ontology: str | None = None
    limit: int | None = None
    shapes_per_shard: int = 32
    shapes_per_row_group: int = 4

    def validated(self) -> FeaturesConfig:
        """The config with its featurizers sorted and deduplicated, once every check passed.

        Raises:
            ConfigError: the first option that cannot run, naming its flag.
        """
        for flag, value in (
            ("--num-points", self.num_points),
            ("--views", self.views),
            ("--image-size", self.image_size),
            ("--partfield-points", self.partfield_points),
            ("--shapes-per-shard", self.shapes_per_shard),
            ("--shapes-per-row-group", self.shapes_per_row_group),
        ):
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, got {value}")
        available = available_featurizers()
        unknown = sorted(set(self.featurizers) - set(available))
        if unknown:
            raise ConfigError(
                f"--featurizers: unknown or unavailable {', '.join(unknown)} "
                f"(available: {', '.join(available)})"
            )
        if self.emit_views and not self.lifted:
            from featurizers.catalog import FEATURIZERS

            lifted = ", ".join(name for name, spec in FEATURIZERS.items() if spec.lifted)
            raise ConfigError(f"--emit-views needs a lifted featurizer ({lifted})")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.ontology:
            from ontology.alias_map import AliasMap

            try:
                AliasMap.load(self.ontology)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"--ontology {self.ontology}: {exc}") from exc
        return dataclasses.replace(self, featurizers=tuple(sorted(set(self.featurizers))))

    @property
    def features_dir(self) -> str:
        return f"{self.output.rstrip('/')}/features"

    @property
    def views_dir(self) -> str:
        return f"{self.output.rstrip('/')}/views"

    @property
    def specs(self) -> list[FeaturizerSpec]:
        """The requested featurizers' specs, in registration order (loads the registry)."""
        from featurizers.catalog import requested

        return requested(self.featurizers)

    @property
    def lifted(self) -> frozenset[str]:
        """The requested featurizers lifted from rendered views."""
        return frozenset(spec.name for spec in self.specs if spec.lifted)

    @property
    def uses_models(self) -> bool:
        """Whether a requested featurizer runs a model (``models``, ``device`` apply)."""
        return any(spec.model is not None for spec in self.specs)

    @property
    def model_weights(self) -> str | None:
        """``pretrained`` or ``random-init`` when a model runs, else None (the run file's and
        the shards' ``models``)."""
        return self.models if self.uses_models else None

    @property
    def random_init(self) -> bool:
        return self.models == "random-init" and self.uses_models

    def with_weights(self) -> FeaturesConfig:
        """The config with every model's weights located here, before any work.

        Workers find the weights again themselves (their own cache, or a download); what is
        located here sets the ``dino`` width and the weights' fingerprint in the config.

        Raises:
            ModelUnavailableError: weights missing; the message says how to provide them.
        """
        if self.models == "random-init":
            return self
        located: dict[str, str] = {}
        if "dinov2" in self.featurizers:
            located["dinov2_weights"] = str(resolve_dinov2_weights(self.dinov2_model))
        if "partfield" in self.featurizers:
            if self.partfield_checkpoint and not Location.of(self.partfield_checkpoint).is_file():
                raise ModelUnavailableError(
                    f"--partfield-checkpoint {self.partfield_checkpoint}: no such file"
                )
            located["partfield_weights"] = self.partfield_checkpoint or str(
                official_partfield_checkpoint()
            )
        return dataclasses.replace(self, **located)

    @cached_property
    def numeric_config(self) -> dict[str, Any]:
        """Every option that changes the numbers in a shard: sampling's, then what the
        requested featurizers declare (``featurizers.contract.config_entries``)."""
        from featurizers.contract import config_entries

        return {
            "num_points": self.num_points,
            "featurizers": list(self.featurizers),
            "sampler_version": SAMPLER_VERSION,
            "schema_version": SCHEMA_VERSION,
            "ontology": self.ontology_fingerprint(),
            **config_entries(self.specs, self),
        }

    def ontology_fingerprint(self) -> str | None:
        """SHA-256 of the alias log the names are resolved with (None without ontology)."""
        if not self.ontology:
            return None
        from ontology.alias_map import AliasMap

        return hashlib.sha256(AliasMap.log_path(self.ontology).read_bytes()).hexdigest()

    @cached_property
    def config_hash(self) -> str:
        """16 hex digits of SHA-256 over ``numeric_config`` (canonical JSON)."""
        canonical = json.dumps(self.numeric_config, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @staticmethod
    def file_fingerprint(path: str | None) -> str | None:
        """Name and size of a weights file (``model.ckpt:1234``): cheap, and changes when the
        weights do. None for no path. Local paths and URIs alike."""
        if not path:
            return None
        location = Location.of(path)
        return f"{location.name}:{location.filesystem.get_file_info(location.path).size}"
