"""The configuration of one features run, in plain Python (the counterpart of
``ontology.config``): what a run may ask for, where its weights are, and its config hash.

A test builds a ``FeaturesConfig`` from plain values and calls ``validated()``,
``with_weights()`` and ``config_hash`` without a pipeline; ``pipelines.features`` only
turns the command line into these values. Files (weights, the alias log) are looked at
through ``pyarrow.fs`` (``schemas.locations``): local paths and URIs alike. Beam is never
imported here.

A featurizer's own options (its ``Flag``s) are not fields here: they are one mapping,
``options``, read through ``option(attribute)``, which falls back to the flag's default;
the weights the requested models located are ``weights``. The featurizer registry is
light to import (``featurizers.contract``), so neither this module nor the command line
built on it loads torch, transformers or trimesh.

The ontology check and fingerprint import ``ontology.alias_map`` when a run names an
ontology (a call, not a module-level dependency of ``featurizers``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from featurizers import catalog
from featurizers.contract import FeaturizerSpec, config_entries
from schemas.features import SCHEMA_VERSION
from schemas.locations import Location

#: Points per shape, sampling's own default restated so that ``--help`` loads no trimesh
#: (``featurizers.sampling.DEFAULT_SHAPE_POINTS``; a test checks that they agree).
DEFAULT_SHAPE_POINTS = 10_000
#: Bumped when sampling changes the numbers it produces (part of the config hash).
SAMPLER_VERSION = 1


class ConfigError(ValueError):
    """Options that cannot run; the message names the flag and why."""


@dataclass(frozen=True)
class FeaturesConfig:
    """One features run: each field is the flag of the same name (``--num-points`` ->
    ``num_points``), except ``options``, the registered featurizers' own flags by
    ``Flag.attribute`` (read them with ``option``), and ``weights``, what ``with_weights``
    located (by the names the models' ``locate`` gave)."""

    output: str
    inputs: tuple[tuple[str, str], ...] = ()  # (source, location)
    featurizers: tuple[str, ...] = ()
    num_points: int = DEFAULT_SHAPE_POINTS
    models: str = "pretrained"
    device: str = "auto"
    model_accelerator: str | None = None
    views: int = 12
    image_size: int = 448
    emit_views: bool = False
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    weights: Mapping[str, str] = field(default_factory=dict, hash=False)
    ontology: str | None = None
    limit: int | None = None
    shapes_per_shard: int = 32
    shapes_per_row_group: int = 4

    def option(self, attribute: str) -> Any:
        """A featurizer's own option (its ``Flag.attribute``): as given, else its default.

        Raises:
            KeyError: no registered featurizer has a flag landing in ``attribute``.
        """
        if attribute in self.options:
            return self.options[attribute]
        for flag in catalog.flags():
            if flag.attribute == attribute:
                return flag.default
        raise KeyError(f"no registered featurizer has the option {attribute!r}")

    def validated(self) -> FeaturesConfig:
        """The config with its featurizers sorted and deduplicated and every registered
        featurizer option filled in (defaults too), once every check passed.

        Raises:
            ConfigError: the first option that cannot run, naming its flag.
        """
        flags = catalog.flags()
        bounded = [
            (f.flag, self.option(f.attribute), f.minimum) for f in flags if f.minimum is not None
        ]
        for flag, value, minimum in (
            ("--num-points", self.num_points, 1),
            ("--views", self.views, 1),
            ("--image-size", self.image_size, 1),
            ("--shapes-per-shard", self.shapes_per_shard, 1),
            ("--shapes-per-row-group", self.shapes_per_row_group, 1),
            *bounded,
        ):
            if value < minimum:
                raise ConfigError(f"{flag} must be at least {minimum}, got {value}")
        unknown_options = sorted(set(self.options) - {flag.attribute for flag in flags})
        if unknown_options:
            raise ConfigError(f"options: no registered featurizer has {', '.join(unknown_options)}")
        available = tuple(catalog.FEATURIZERS)
        unknown = sorted(set(self.featurizers) - set(available))
        if unknown:
            raise ConfigError(
                f"--featurizers: unknown or unavailable {', '.join(unknown)} "
                f"(available: {', '.join(available)})"
            )
        if self.emit_views and not self.lifted:
            lifted = ", ".join(name for name, spec in catalog.FEATURIZERS.items() if spec.lifted)
            raise ConfigError(f"--emit-views needs a lifted featurizer ({lifted})")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.ontology:
            from ontology.alias_map import AliasMap

            try:
                AliasMap.load(self.ontology)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"--ontology {self.ontology}: {exc}") from exc
        return dataclasses.replace(
            self,
            featurizers=tuple(sorted(set(self.featurizers))),
            options={flag.attribute: self.option(flag.attribute) for flag in flags},
        )

    @property
    def features_dir(self) -> str:
        return f"{self.output.rstrip('/')}/features"

    @property
    def views_dir(self) -> str:
        return f"{self.output.rstrip('/')}/views"

    @property
    def specs(self) -> list[FeaturizerSpec]:
        """The requested featurizers' specs, in registration order."""
        return catalog.requested(self.featurizers)

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
        """The config with every requested model's weights located here (``weights``: what
        each ``ModelSpec.locate`` returned), before any work.

        Workers find the weights again themselves (their own cache, or a download); what is
        located here sets e.g. the ``dino`` width and the weights' fingerprint in the config.

        Raises:
            ModelUnavailableError: weights missing; the message says how to provide them.
        """
        if self.models == "random-init":
            return self
        located: dict[str, str] = {}
        for spec in self.specs:
            if spec.model is not None:
                located.update(spec.model.locate(self))
        return dataclasses.replace(self, weights=located)

    @cached_property
    def numeric_config(self) -> dict[str, Any]:
        """Every option that changes the numbers in a shard: sampling's, then what the
        requested featurizers declare (``featurizers.contract.config_entries``)."""
        return {
            "num_points": self.num_points,
            "featurizers": list(self.featurizers),
            "sampler_version": SAMPLER_VERSION,
            "schema_version": SCHEMA_VERSION,
            "ontology": self.ontology_fingerprint(),
            **config_entries(self.specs, self),
        }

    def ontology_fingerprint(self) -> str | None:
        """``AliasMap.fingerprint`` of the alias log the names are resolved with (what it
        resolves, not when: rerunning the ontology does not recompute the features); None
        without ontology."""
        if not self.ontology:
            return None
        from ontology.alias_map import AliasMap

        return AliasMap.fingerprint(self.ontology)

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
