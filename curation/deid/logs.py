"""Logging that cannot carry identifiers: every record passes a redacting filter.

pydicom's warnings quote raw element values (``Invalid value for VR CS: 'Zhang^San'``);
third-party messages are therefore scrubbed of anything that looks like an identifier, and of the
identifiers the run knows, before any handler sees them. The filter sits on the root handlers,
on the ``py.warnings`` logger (Python warnings routed to logging) and on the loggers of libraries
that install handlers of their own (pydicom's debug mode, papermill).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable

__all__ = ["RedactingFilter", "install_redacting_handler", "redact", "redacting_filter"]

REDACTED = "[REDACTED]"
_D0, _D1 = r"(?<![0-9])", r"(?![0-9])"
# 18-digit resident ID (last may be X), mainland mobile numbers, long digit runs (MRNs, phones),
# letter-prefixed admission numbers, DICOM person names (A^B, A=B), quoted values in library
# messages, CJK text (names, addresses). Lookarounds instead of \b: CJK characters count as word
# characters, so "住院号123456" has no word boundary before the digits.
_PATTERNS = [
    re.compile(_D0 + r"\d{17}[\dXx]" + _D1),
    re.compile(_D0 + r"1[3-9]\d[-\s]?\d{4}[-\s]?\d{4}" + _D1),
    re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{0,4}\d{6,}" + _D1),
    re.compile(r"'[^'\n]{1,128}'"),
    re.compile(r'"[^"\n]{1,128}"'),
    re.compile(r"[^\s'\"=^]*\^[^\s'\"]*"),
    re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+"),
]
_LOGGERS = ("pydicom", "papermill", "py.warnings")


def redact(text: str, known: re.Pattern[str] | None = None) -> str:
    """Replace identifier-like substrings (and ``known`` identifiers) by ``[REDACTED]``."""
    if known is not None:
        text = known.sub(REDACTED, text)
    for pat in _PATTERNS:
        text = pat.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, exception text and stack so no identifier reaches a handler."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self._known: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add_known(known)

    def add_known(self, values: Iterable[str]) -> None:
        """Also redact these exact values (the identifiers read at load time; held in memory only)."""
        self._known |= {str(v).strip() for v in values if v is not None and len(str(v).strip()) >= 2}
        if self._known:
            alts = sorted(self._known, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alts), re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message and arguments in place; always keep the record."""
        if getattr(record, "_curation_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be logged, redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message, self._pattern)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._pattern)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._pattern)
        record._curation_redacted = True
        return True


def _has_filter(obj: logging.Filterer) -> RedactingFilter | None:
    return next((f for f in obj.filters if isinstance(f, RedactingFilter)), None)


def install_redacting_handler(
    *, level: int = logging.INFO, known: Iterable[str] = (), set_filters: bool = True
) -> logging.Handler:
    """Route logging and Python warnings through one redacting stderr handler.

    Idempotent: a second call returns the installed handler (adding ``known`` values to it).
    Existing root handlers and the loggers of pydicom, papermill and ``py.warnings`` get the
    same filter, so a handler installed by a library cannot bypass it.
    """
    root = logging.getLogger()
    for h in root.handlers:
        f = _has_filter(h)
        # only the handler this function installed is returned; another root handler that was given the
        # filter by _cover_others (pytest's, a notebook's) is not a stream handler of ours
        if f is not None and getattr(h, "_curation_redacting", False):
            f.add_known(known)
            _cover_others(f)
            return h
    flt = RedactingFilter(known)
    handler = logging.StreamHandler()
    handler._curation_redacting = True  # type: ignore[attr-defined]
    handler.addFilter(flt)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    _cover_others(flt)
    logging.captureWarnings(True)
    if set_filters:  # the CLI shows each warning once; library callers (and pytest) keep their filters
        warnings.simplefilter("default")
    return handler


def _cover_others(flt: RedactingFilter) -> None:
    for h in logging.getLogger().handlers:
        _give(h, flt)
    for name in _LOGGERS:
        lg = logging.getLogger(name)
        _give(lg, flt)  # records of this logger are redacted before any of its own handlers
        for h in lg.handlers:
            _give(h, flt)


def _give(obj: logging.Filterer, flt: RedactingFilter) -> None:
    """``flt`` on ``obj``, in place of an older redacting filter (one left by a handler since removed would
    not know the identifiers added to ``flt``)."""
    old = _has_filter(obj)
    if old is flt:
        return
    if old is not None:
        obj.removeFilter(old)
    obj.addFilter(flt)


def redacting_filter() -> RedactingFilter | None:
    """The installed filter (to add the run's identifiers with ``add_known``), if any."""
    for h in logging.getLogger().handlers:
        f = _has_filter(h)
        if f is not None:
            return f
    return None
