"""The one search-space module every algorithm uses: validation, parsing, encoding, sampling.

API (algorithms use this instead of re-parsing NNI's JSON)::

    space = parse_search_space(raw)       # validates first: SearchSpaceError naming the key path
    space.params                          # list[ParameterSpec], parents before nested children
    space.sample(rng)                     # random config in NNI's user format
    space.encode(params) -> np.ndarray    # shape (space.dim,)
    space.decode(vector) -> dict          # inverse: q-rounding, clipping, int for randint
    config_key(params) -> str             # canonical, hashable: dedup
    ConfigHistory(space)                  # seen configs; random_unseen(); exhausted
    check_supported_types(space, "GP", {...}, nested=False, suggestion="TPE")

``ParameterSpec`` fields: ``key`` (NNI's path tuple: ``("lr",)``; inside nested choice option 1
of ``model``: ``("model", 1, "depth")``), ``type``, ``values`` (the raw ``_value``), ``index``
(column in encoded vectors), ``is_categorical`` / ``n_choices`` (choice only; randint is numeric
with ``integer=True``, ``low <= v < high``), ``low``/``high`` (internal scale: log for log types),
``mu``/``sigma`` (normal family; log space for lognormal), ``q``, ``clip`` (q(log)uniform),
``log``, ``normal``, ``condition`` (``(parent column, option index)`` that activates a nested
parameter; None at top level), ``nested`` (per option: is it a ``_name`` sub-space),
``children``; ``grid`` lists all values of a finite parameter; ``path`` prints ``model[1].depth``.

Encoding: every numeric parameter maps to [0, 1], where its prior is uniform: bounded types
linearly in internal scale (log for log types), randint by equal-width integer cells (value
``low + floor(u * n)``), the normal family through the normal CDF ``u = Phi((x - mu) / sigma)``.
A choice is its option index (as a float). Columns of parameters inside a nested option that is
not chosen are NaN. ``sample_vectors(rng, n)`` draws encoded vectors from the prior, vectorised;
``mask_inactive`` applies the NaN rule to a batch; ``fill_inactive`` gives parameters that a
changed choice activated fresh prior draws; ``snap`` re-encodes a decoded vector.
Decoding rounds q-types as ``clip(round(x / q) * q, low, high)`` (no clip for the normal family)
and returns floats, ints for randint, option values for choice and ``{"_name": ..., sub-params}``
for a nested option, exactly NNI's user format.
"""

from __future__ import annotations

from .space import (
    NORMAL_TYPES,
    NUMERIC_TYPES,
    ConfigHistory,
    Key,
    ParameterSpec,
    SearchSpace,
    check_supported_types,
    config_key,
    parse_search_space,
)
from .validation import SEARCH_SPACE_TYPES, validate_search_space

__all__ = [
    "SEARCH_SPACE_TYPES", "validate_search_space", "parse_search_space", "SearchSpace", "ParameterSpec",
    "ConfigHistory", "config_key", "check_supported_types", "NUMERIC_TYPES", "NORMAL_TYPES", "Key",
]
