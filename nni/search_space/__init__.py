"""The one search-space module every algorithm uses: validation, parsing, encoding, sampling."""

from __future__ import annotations

from .validation import SEARCH_SPACE_TYPES, validate_search_space

__all__ = ["SEARCH_SPACE_TYPES", "validate_search_space"]
