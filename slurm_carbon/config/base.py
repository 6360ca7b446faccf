"""The base of every section model of the site configuration.

Each section refuses unknown keys (a misspelt key is never silently ignored),
takes values of exactly the type documented (no coercion of ``"1"`` to ``1``)
and is frozen once loaded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A section of the site configuration: strict, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
