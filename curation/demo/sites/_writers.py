"""The demo sites' writers: CSV in the site's encoding and line ends, Excel workbooks whose bytes depend
only on their content."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "2024-01-01T00:00:00Z"


def write_csv(
    path: Path, df: pd.DataFrame, *, site: str, bom: bool = False, malformed: dict[int, tuple[str, str]] | None = None
) -> None:
    """Write a site CSV; ``malformed`` maps row position -> (quoted text, unquoted text) to break."""
    text = df.to_csv(index=False, lineterminator="\r\n" if site == "C" else "\n")
    if malformed:
        lines = text.split("\r\n" if site == "C" else "\n")
        for pos, (quoted, raw) in malformed.items():
            lines[pos + 1] = lines[pos + 1].replace(quoted, raw, 1)
        text = ("\r\n" if site == "C" else "\n").join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8-sig" if bom else "utf-8" if site == "A" else "gb18030"))


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """An Excel workbook whose bytes depend only on its content (fixed times in the zip and properties)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            ws.append([None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in row])
        for cells in ws.iter_rows(min_row=2):
            for c in cells:
                if isinstance(c.value, datetime):  # as the hospital's Excel shows them
                    midnight = c.value.hour == 0 and c.value.minute == 0
                    c.number_format = "yyyy-mm-dd" if midnight else "yyyy-mm-dd hh:mm"
    wb.properties.creator = "HIS export"
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_deterministic_zip(buf.getvalue()))


def _deterministic_zip(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + FIXED_DOC_TIME.encode() + rb"\g<3>",
                    body,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, body)
    return out.getvalue()
