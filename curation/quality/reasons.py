"""Reason codes: why a file or a record was set aside, or a value emptied.

The codes and their descriptions are data, ``curation/dictionary/reasons.yaml`` (curators read them
with ``curation dictionary --reasons``); :class:`Reason` is built from that file, so there is one
list. :meth:`~curation.quality.Quarantine.add` accepts these codes only, as pandera's failure
cases carry the name of a known check.

>>> Reason("malformed_line").scope
'record'
>>> Reason("malformed_line") == "malformed_line"
True
"""

from __future__ import annotations

import enum
import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

__all__ = ["SCOPES", "Reason", "as_reason", "reasons_frame"]

SCOPES = ("file", "record", "value")
SOURCE = "curation/dictionary/reasons.yaml"
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@cache
def _table() -> dict[str, dict[str, str]]:
    text = resources.files("curation.dictionary").joinpath("reasons.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    out: dict[str, dict[str, str]] = {}
    for code, entry in (doc.get("reasons") or {}).items():
        scope, description = (entry or {}).get("scope"), str((entry or {}).get("description") or "").strip()
        if not _CODE.match(str(code)) or scope not in SCOPES or not description:
            msg = f"{SOURCE}: reason {code!r} needs a lower-case code, a scope ({', '.join(SCOPES)}) and a description"
            raise ValueError(msg)
        out[str(code)] = {"scope": str(scope), "description": description}
    return out


class _Described(enum.StrEnum):
    @property
    def description(self) -> str:
        """What the code means, for curators (from reasons.yaml)."""
        return _table()[self.value]["description"]

    @property
    def scope(self) -> str:
        """``file``, ``record`` or ``value``: what was set aside or emptied."""
        return _table()[self.value]["scope"]


if TYPE_CHECKING:

    class Reason(_Described):
        """A reason code of reasons.yaml (members are its codes, upper-cased: ``Reason.MALFORMED_LINE``)."""

else:
    Reason = _Described("Reason", {code.upper(): code for code in _table()}, module=__name__)
    Reason.__doc__ = "A reason code of reasons.yaml (members are its codes, upper-cased: ``Reason.MALFORMED_LINE``)."


def as_reason(code: str) -> Reason:
    """The :class:`Reason` of ``code``; a code reasons.yaml does not list is an error that says where to add it."""
    try:
        return Reason(code)
    except ValueError:
        msg = (
            f"{code!r} is not a reason code: add it with its scope and a one-line description to {SOURCE}, "
            "or use one of its codes"
        )
        raise ValueError(msg) from None


def reasons_frame() -> pd.DataFrame:
    """Every reason code with its scope and description (``curation dictionary --reasons``)."""
    rows = [{"reason": code, **entry} for code, entry in _table().items()]
    return pd.DataFrame(rows, columns=["reason", "scope", "description"])
