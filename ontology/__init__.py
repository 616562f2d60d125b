"""Ontology unification: one category/part vocabulary over several 3D part datasets.

Plain Python on numpy, polars and Arrow (no Beam): vocabulary readers,
normalization rules, describers, embedders, candidate search, verification,
grouping, canonical names, ``unify.unify`` (a whole run: vocabulary table -> outputs),
and ``AliasMap``, the name resolver inference code uses.
"""

from ontology.alias_map import AliasMap, CanonicalPart, PartList, UnknownNameError

__all__ = ["AliasMap", "CanonicalPart", "PartList", "UnknownNameError"]
