"""Names that come from input files (node names, folder names, JSON strings): made safe to
write, and turned into part names.

Names in datasets are not always valid text: a JSON file may hold a lone surrogate
(``"\\udc80"``), a file name may not be UTF-8 (Python hands it over with surrogate
escapes). Such text cannot be written to Parquet or JSON. ``escape_invalid_text`` keeps
every valid character and spells the invalid ones as backslash escapes, so the name stays
readable, stays distinct, and the escaping can be reported.

Names in mesh files are not always part names either: instances carry numbers
(3DCoMPaT++'s ``leg_01``, ``leg_02``; Blender's ``leg.001``; trimesh's ``leg_1``), and
exporters make names up (``geometry_0``, ``Object_12``, ``mesh.001``, ``21``, or a random
``17_34ea``). ``part_name`` is the one rule the sources apply to a raw name (mesh node and
group names, Find3D label names). PartNet's leaf paths are names from its fixed label
lists and kept as they are; every one of them is its own ``part_name``.
"""

from __future__ import annotations

import re

#: A trailing instance or uniqueness suffix: a separator, then a number (``_01``,
#: ``.001``, `` 2``, ``-3``) or a hex token of at least four characters holding a digit
#: and a letter (``_34ea``, ``_a3f9c1``: random ids of exporters and of trimesh).
_SUFFIX = re.compile(
    r"[_\-. ]+(?:\d+|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{4,})$", re.IGNORECASE
)
#: A whole name that is such a random hex token.
_RANDOM_TOKEN = re.compile(r"^(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{4,}$", re.IGNORECASE)
#: Names exporters and loaders make up, alone or with a number (``mesh0``, ``Object_12``).
_GENERATED = re.compile(
    r"^(?:geometry|mesh|object|obj|node|primitive|group|default|defaultobject|model|scene|"
    r"root|rootnode|world|gltf|gltf_scenerootnode|sketchfab_model|polysurface|untitled|shape|"
    r"part)[_\-. ]*\d*$",
    re.IGNORECASE,
)


def part_name(raw: str) -> str | None:
    """The part a raw name from a file names, or None when it names none.

    The rule: trailing instance suffixes, a separator (``_ - . space``) followed by a
    number or by a hex token of four or more characters holding a digit and a letter,
    are removed, as often as they occur: ``leg_01``, ``leg_02``, ``leg.001``, ``leg_1``
    and ``leg_01_1`` are all ``leg``. What remains names a part unless it holds no letter
    (``21``, ``17_34ea``), is itself a random hex token (``a3f9c1``), or is a name
    exporters make up, with or without a number (``geometry_0``, ``mesh.001``,
    ``Object_12``, ``node5``, ``default``).

    Numbers without a separator before them (``x2``, ``mp3``) and numbers inside a name
    (``back_2_support``) are part of the name and kept. Case and inner separators are
    kept (the ontology normalizes those). PartNet leaf paths
    (``chair/chair_base/leg``) pass unchanged.
    """
    name = raw.strip()
    while (stripped := _SUFFIX.sub("", name)) != name:
        name = stripped
    name = name.strip("_-. ")
    if not re.search(r"[^\W\d_]", name) or _RANDOM_TOKEN.match(name) or _GENERATED.match(name):
        return None
    return name


def escape_invalid_text(text: str) -> str:
    """``text`` with every code point UTF-8 cannot encode (lone surrogates) written as
    ``\\udcXX``-style backslash escapes; valid text comes back unchanged."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def is_valid_text(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 as it is (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
