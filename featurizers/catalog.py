"""The registered featurizers: ``--featurizers`` names -> their specs, in schema order.

Adding a featurizer: write its module in ``featurizers/`` (a ``FeaturizerSpec``, see
``featurizers.contract``) and register it here (or, in a test, ``register`` it).
"""

from __future__ import annotations

from featurizers.contract import FeaturizerSpec
from featurizers.dinov2 import DINOV2
from featurizers.partfield.featurizer import PARTFIELD
from featurizers.rgb import RGB

#: Registered featurizers by name; their order is the shard schema's column order.
FEATURIZERS: dict[str, FeaturizerSpec] = {spec.name: spec for spec in (DINOV2, RGB, PARTFIELD)}


def register(spec: FeaturizerSpec) -> None:
    """Add a featurizer (its columns go after those registered before it).

    Raises:
        ValueError: the name or one of its default columns is taken already.
    """
    if spec.name in FEATURIZERS:
        raise ValueError(f"featurizer {spec.name!r} is registered already")
    taken = {c.name for s in FEATURIZERS.values() for c in s.columns(None)}
    clash = sorted(taken & {c.name for c in spec.columns(None)})
    if clash:
        raise ValueError(f"featurizer {spec.name!r}: column(s) {', '.join(clash)} taken already")
    FEATURIZERS[spec.name] = spec


def requested(names: tuple[str, ...] | list[str]) -> list[FeaturizerSpec]:
    """The specs of the named featurizers, in registration order."""
    return [spec for name, spec in FEATURIZERS.items() if name in names]
