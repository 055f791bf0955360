"""The Jinja environment of the reviewer pages: templates with ``_()`` / ``ngettext()`` bound to a
:class:`~curation.report.i18n.Translator`, and the shared stylesheet."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from .i18n import SWITCH_CSS, SWITCH_JS, Bi, Translator, translator

if TYPE_CHECKING:
    import jinja2

__all__ = ["css", "environment", "head", "page_environment", "switch"]

TEMPLATES = Path(__file__).parent / "templates"


@cache
def css() -> str:
    """The reviewer pages' stylesheet (screen and print), language switch included."""
    return (TEMPLATES / "reviewer.css").read_text(encoding="utf-8") + SWITCH_CSS


def head(tr: Translator) -> Markup:
    """What every reviewer page puts in its ``<head>``: the stylesheet and, for both languages, the switch."""
    parts = [Markup("<style>{}</style>").format(Markup(css()))]
    if tr.both:
        parts.append(Markup("<script>{}</script>").format(Markup(SWITCH_JS)))
    return Markup("\n").join(parts)


def switch(tr: Translator) -> Markup:
    """The language buttons (only when the page carries both languages)."""
    if not tr.both:
        return Markup("")
    return Markup(
        '<div class="lang-switch" role="group" aria-label="language / 语言">'
        '<button type="button" value="zh" aria-pressed="false">中文</button>'
        '<button type="button" value="en" aria-pressed="false">English</button></div>'
    )


@cache
def environment(tr: Translator) -> jinja2.Environment:
    """Templates of ``report/templates`` rendered with ``tr``."""
    import jinja2

    from .words import DIMENSIONS, SEVERITIES, VERDICTS

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )

    def word(table: dict[str, str]) -> Any:
        return lambda v: tr._(table[str(v)]) if str(v) in table else tr.show(str(v).replace("_", " "))

    env.globals.update(
        _=tr._,
        ngettext=tr.ngettext,
        show=tr.show,
        tr=tr,
        head=lambda: head(tr),
        switch=lambda: switch(tr),
        verdict=word(VERDICTS),
        dimension=word(DIMENSIONS),
        severity=word(SEVERITIES),
        Bi=Bi,
        lang=tr.lang,
        both=tr.both,
        language=tr.language,
    )
    return env


def page_environment(language: str) -> jinja2.Environment:
    """:func:`environment` for a ``report.language`` value."""
    return environment(translator(language))
