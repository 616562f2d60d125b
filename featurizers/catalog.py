"""The registered featurizers: ``--featurizers`` names -> their specs, in schema order.

Adding a featurizer: write its module in ``featurizers/`` (a ``FeaturizerSpec``, see
``featurizers.contract``) and register it here (or, in a test, ``register`` it). The
command line is built from this registry, so importing it stays light: the featurizer
modules import torch and the like only inside the functions that use them.
"""

from __future__ import annotations

from featurizers.contract import FeaturizerSpec, Flag
from featurizers.dinov2 import DINOV2
from featurizers.partfield.featurizer import PARTFIELD
from featurizers.rgb import RGB

#: Registered featurizers by name; their order is the shard schema's column order.
FEATURIZERS: dict[str, FeaturizerSpec] = {spec.name: spec for spec in (DINOV2, RGB, PARTFIELD)}


def register(spec: FeaturizerSpec) -> None:
    """Add a featurizer (its columns go after those registered before it).

    Raises:
        ValueError: the name, one of its default columns or one of its flags (or their
            attributes) is taken already.
    """
    if spec.name in FEATURIZERS:
        raise ValueError(f"featurizer {spec.name!r} is registered already")
    for what, taken, own in (
        (
            "column(s)",
            {c.name for s in FEATURIZERS.values() for c in s.columns(None)},
            {c.name for c in spec.columns(None)},
        ),
        ("flag(s)", {f.flag for f in flags()}, {f.flag for f in spec.flags}),
        ("option(s)", {f.attribute for f in flags()}, {f.attribute for f in spec.flags}),
    ):
        clash = sorted(taken & own)
        if clash:
            raise ValueError(f"featurizer {spec.name!r}: {what} {', '.join(clash)} taken already")
    FEATURIZERS[spec.name] = spec


def requested(names: tuple[str, ...] | list[str]) -> list[FeaturizerSpec]:
    """The specs of the named featurizers, in registration order."""
    return [spec for name, spec in FEATURIZERS.items() if name in names]


def flags() -> list[Flag]:
    """Every registered featurizer's own flags, in registration order."""
    return [flag for spec in FEATURIZERS.values() for flag in spec.flags]
