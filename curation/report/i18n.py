"""Chinese and English in the reports: gettext catalogues (Babel), one translator per page.

English is the source language (the msgids); the Chinese is in ``locale/zh/LC_MESSAGES/curation.po``,
compiled to ``curation.mo`` beside it and shipped as package data. Strings reach the catalogue from
four places, all extracted by :func:`extract`: ``_()`` / ``ngettext()`` calls in Python and in the
Jinja templates, the reviewer sentences of ``check_messages.yaml``, and the Markdown cells of
``notebooks/*.ipynb``. After changing any of them::

    python -m curation.report.i18n          # extract, update the .po (new ids untranslated), compile the .mo

then translate the new entries in the .po and run it again; ``tests/report/test_i18n.py`` fails while
an id is untranslated or the .mo is stale.

A :class:`Translator` renders for ``report.language`` of cohort.yaml: ``zh``, ``en``, or ``both``,
where every string is emitted in both languages (``<span lang="zh">…</span><span lang="en">…</span>``)
and the page's switch shows one of them, offline and without reloading (:data:`SWITCH_JS`).
"""

from __future__ import annotations

import gettext
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "LANGS",
    "N_",
    "SWITCH_CSS",
    "SWITCH_JS",
    "Bi",
    "Translator",
    "catalogue",
    "extract",
    "extract_notebook",
    "extract_yaml",
    "translator",
    "untranslated",
    "update",
]

LANGS = ("zh", "en")
DOMAIN = "curation"
HERE = Path(__file__).parent
LOCALE = HERE / "locale"
PO = LOCALE / "zh" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
REPO = HERE.parents[1]


def N_(msgid: str) -> str:
    """Mark ``msgid`` for the catalogue without translating it here."""
    return msgid


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English: the ids themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    from babel.support import Translations

    return Translations.load(str(LOCALE), [lang], DOMAIN)


@dataclass(frozen=True)
class Bi:
    """A value that reads differently per language (a field label, a translated word)."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        """The text in ``lang`` (Chinese for ``zh``, else English)."""
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:
        return self.en


class Translator:
    """Translated, escaped text for one page in ``language`` (``zh``, ``en`` or ``both``).

    ``tr._("{n} of {m} records", n=3, m=10)`` translates the id, then fills in the values (escaped;
    a :class:`Bi` value in each language's own form). Text built for both languages carries both,
    as ``<span lang>`` pairs the page's switch chooses between.
    """

    def __init__(self, language: str = "both") -> None:
        if language not in (*LANGS, "both"):
            msg = f"report.language: {language!r} is not one of zh, en, both"
            raise ValueError(msg)
        self.language = language
        self.langs: tuple[str, ...] = LANGS if language == "both" else (language,)

    @property
    def both(self) -> bool:
        """True when the report is written in more than one language."""
        return len(self.langs) > 1

    @property
    def lang(self) -> str:
        """The page's ``lang`` attribute: its first language."""
        return self.langs[0]

    def text(self, msgid: str, lang: str, /, **values: Any) -> str:
        """The plain text of ``msgid`` in one language, values filled in (not escaped)."""
        got = catalogue(lang).gettext(msgid)
        return got.format(**{k: _plain(v, lang) for k, v in values.items()}) if values else got

    def ntext(self, singular: str, plural: str, n: int, lang: str, /, **values: Any) -> str:
        """The plural-aware translation of a message for ``n`` in ``lang``, with ``values`` filled in."""
        got = catalogue(lang).ngettext(singular, plural, n)
        return got.format(n=n, **{k: _plain(v, lang) for k, v in values.items()})

    def bi(self, msgid: str, /, **values: Any) -> Bi:
        """``msgid`` in both languages, as a value for another message."""
        return Bi(self.text(msgid, "zh", **values), self.text(msgid, "en", **values))

    def _(self, msgid: str, /, **values: Any) -> Markup:
        """Translated and escaped, in the page's language(s)."""
        return self.join({lang: self.text(msgid, lang, **values) for lang in self.langs})

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> Markup:
        """``_`` with a plural form chosen by ``n`` (``{n}`` is filled in)."""
        return self.join({lang: self.ntext(singular, plural, n, lang, **values) for lang in self.langs})

    def show(self, value: Any) -> Markup:
        """A value (a :class:`Bi`, a number, text) in the page's language(s), escaped."""
        return self.join({lang: _plain(value, lang) for lang in self.langs})

    def join(self, texts: Mapping[str, str]) -> Markup:
        """One text per language into the page: a single language plain, both as ``<span lang>`` pairs."""
        if not self.both:
            return Markup(escape(texts[self.lang]))
        if len(set(texts.values())) == 1:  # the same in both (a number, a code): once
            return Markup(escape(next(iter(texts.values()))))
        return Markup("").join(Markup('<span lang="{}">{}</span>').format(lang, texts[lang]) for lang in self.langs)


def _plain(value: Any, lang: str) -> str:
    if isinstance(value, Bi):
        return value.get(lang)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@cache
def translator(language: str = "both") -> Translator:
    """The (shared, stateless) translator of one language setting."""
    return Translator(language)


# The page-level switch of language="both": CSS hides the other language, a tiny inline script sets
# it from the reader's last choice (or the browser's language) before the body is drawn.
SWITCH_CSS = """
html[data-lang="zh"] [lang="en"]:not(html), html[data-lang="en"] [lang="zh"]:not(html) { display: none !important; }
.lang-switch { float: right; font: 13px system-ui, sans-serif; }
.lang-switch button { border: 1px solid #8c959f; background: #fff; color: #1f2328; padding: .15em .7em;
  cursor: pointer; }
.lang-switch button[aria-pressed="true"] { background: #1f2328; color: #fff; }
@media print { .lang-switch { display: none; } }
"""
SWITCH_JS = """
(function () {
  var root = document.documentElement, key = "curation-report-lang";
  function set(lang) {
    root.setAttribute("data-lang", lang); root.setAttribute("lang", lang);
    try { localStorage.setItem(key, lang); } catch (e) {}
    var b = document.querySelectorAll(".lang-switch button");
    for (var i = 0; i < b.length; i++) b[i].setAttribute("aria-pressed", String(b[i].value === lang));
  }
  var saved = null;
  try { saved = localStorage.getItem(key); } catch (e) {}
  var nav = (navigator.languages && navigator.languages[0]) || navigator.language || "zh";
  root.setAttribute("data-lang", saved || (/^zh/i.test(nav) ? "zh" : "en"));
  document.addEventListener("DOMContentLoaded", function () {
    set(root.getAttribute("data-lang"));
    document.addEventListener("click", function (e) {
      var t = e.target;
      if (t && t.matches && t.matches(".lang-switch button")) set(t.value);
    });
  });
})();
"""


# ----------------------------------------------------------------------------------- extraction

KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None, "bi": None}


def extract_yaml(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor of ``check_messages.yaml``: every ``what`` and ``fix`` template, every rule."""
    import yaml

    data = yaml.safe_load(fileobj.read().decode("utf-8")) or {}
    for section in ("families", "dimensions"):
        for key, entry in (data.get(section) or {}).items():
            for part in ("what", "fix"):
                if entry.get(part):
                    yield 0, "_", entry[part], [f"{section}: {key} ({part})"]
    for entry in data.get("rules") or []:
        yield 0, "_", entry["text"], [f"rule: {entry['match']}"]
    for key, word in (data.get("words") or {}).items():
        yield 0, "_", word, [f"word: {key}"]


def extract_notebook(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor of a notebook: each Markdown cell is one message."""
    nb = json.loads(fileobj.read().decode("utf-8"))
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if text.strip():
                yield i, "_", text.strip(), [f"markdown cell {i}"]


METHODS = [
    ("curation/**.py", "python"),
    ("curation/report/templates/**.j2", "jinja2"),
    ("curation/report/check_messages.yaml", "curation.report.i18n:extract_yaml"),
    ("notebooks/*.ipynb", "curation.report.i18n:extract_notebook"),
]


def extract(root: Path = REPO) -> dict[str, tuple[str, ...] | str]:
    """Every message id of the package, templates, check sentences and notebooks: id -> id (or plural ids)."""
    from babel.messages.extract import extract_from_dir

    out: dict[str, tuple[str, ...] | str] = {}
    for _fname, _line, message, _comments, _ctx in extract_from_dir(
        str(root), method_map=METHODS, keywords=KEYWORDS, options_map={"**.j2": {"extensions": ""}}
    ):
        key = message[0] if isinstance(message, tuple) else message
        if key:
            out[key] = message
    return out


def update(root: Path = REPO) -> tuple[int, int]:
    """Extract, merge into the zh .po (new ids empty, gone ids dropped) and compile the .mo.

    Returns (messages, untranslated).
    """
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po, write_po

    ids = extract(root)
    old = read_po(PO.open("rb")) if PO.is_file() else Catalog(locale="zh")
    new = Catalog(locale="zh_Hans_CN", domain=DOMAIN, project="curation", fuzzy=False)
    new.locale = old.locale or new.locale
    for message in ids.values():
        key = message[0] if isinstance(message, tuple) else message
        got = old.get(key)
        flags = ["python-brace-format"] if "{" in key else []
        new.add(
            message if isinstance(message, str) else tuple(message), string=got.string if got else None, flags=flags
        )
    import io

    from ..io.bundle import write_bytes

    # written whole (a temporary file, then renamed): a report rendered meanwhile never reads half a catalogue
    po, mo = io.BytesIO(), io.BytesIO()
    write_po(po, new, width=100, omit_header=False, sort_output=True)
    write_mo(mo, new)
    PO.parent.mkdir(parents=True, exist_ok=True)
    for path, data in ((PO, po), (MO, mo)):
        write_bytes(path, data.getvalue()).chmod(0o644)  # package data: readable by every user of the install
    untranslated = [m.id for m in new if m.id and not _translated(m.string)]
    return len(ids), len(untranslated)


def _translated(string: Any) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)


def untranslated(ids: Iterable[str]) -> list[str]:
    """Ids the compiled zh catalogue does not translate."""
    cat = catalogue("zh")
    return [i for i in ids if cat.gettext(i) == i and not _same_in_both(i)]


def _same_in_both(msgid: str) -> bool:
    """Ids that read the same in Chinese (codes, numbers, units): none are expected."""
    return False


if __name__ == "__main__":  # pragma: no cover - the maintainers' command
    n, missing = update()
    print(f"{n} messages; {missing} untranslated in {PO.relative_to(REPO)}")  # noqa: T201 - the maintainers' command line
