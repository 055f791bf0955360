"""The words of a verdict, a dimension and a severity, as the reviewer reads them (gettext messages).

Their own module so the page renderer, the tables, the figures and the review builder share them
without importing one another.
"""

from __future__ import annotations

from .i18n import N_

__all__ = ["DIMENSIONS", "SEVERITIES", "VERDICTS"]

VERDICTS = {
    "pass": N_("pass"),
    "warn": N_("warn"),
    "fail": N_("fail"),
    "error": N_("error"),
    "not_applicable": N_("not applicable"),
}
DIMENSIONS = {
    "completeness": N_("completeness"),
    "accuracy": N_("accuracy"),
    "conformance": N_("conformance"),
    "consistency": N_("consistency"),
    "timeliness": N_("timeliness"),
    "uniqueness": N_("uniqueness"),
}
SEVERITIES = {"info": N_("info"), "minor": N_("minor"), "major": N_("major"), "critical": N_("critical")}
