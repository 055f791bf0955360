"""The catalogue is complete and compiled: every id of the package, templates, check sentences and
notebooks has a Chinese translation in the shipped .mo, and the .mo is the compiled .po."""

from __future__ import annotations

import io

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from curation.report import i18n
from curation.report.i18n import Bi, Translator


def test_every_message_is_translated() -> None:
    ids = i18n.extract()
    assert len(ids) > 250
    assert i18n.untranslated(ids) == [], "run `python -m curation.report.i18n` and translate the new entries"


def test_the_shipped_mo_is_the_compiled_po() -> None:
    with i18n.PO.open("rb") as f:
        catalog = read_po(f)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    assert buf.getvalue() == i18n.MO.read_bytes(), "the .mo is stale: run `python -m curation.report.i18n`"
    assert not [m.id for m in catalog if m.id and m.fuzzy]


def test_both_languages_render_as_a_pair_and_one_language_alone() -> None:
    label = Bi("性别", "Sex")
    both = Translator("both")._(
        "{field} is missing in {n_failed} of {n_checked} records ({pct})",
        field=label,
        n_failed=1,
        n_checked=41,
        pct="2.4%",
    )
    assert both == (
        '<span lang="zh">41 条记录中有 1 条缺失性别（2.4%）</span>'
        '<span lang="en">Sex is missing in 1 of 41 records (2.4%)</span>'
    )
    assert Translator("zh")._("Checks that did not pass") == "未通过的核查"
    assert Translator("en")._("Checks that did not pass") == "Checks that did not pass"
    assert "<b>" not in Translator("en")._("{x}", x="<b>")  # values are escaped
