"""Genomics modality: damaged and empty sources (truncated or corrupt gzip, broken INFO, MAF without a
required column, empty files, damaged sample sheets) are quarantined or reported, never a crash."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import curation as cu
from curation.modalities.genomics import _maf, _vcf

from .genomics_fixture import KEY, KEYRING, S1, pt, vcf_record, vcf_text


# ------------------------------------------------------------------------------ damaged and empty sources
def _bgzip(data: bytes, *, block: int = 4096) -> bytes:
    """BGZF as bgzip writes it: deflate blocks in gzip members carrying the BC extra field, then the EOF block."""
    out = []
    for i in range(0, len(data), block):
        chunk = data[i : i + block]
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        comp = c.compress(chunk) + c.flush()
        out.append(
            struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(comp) + 25)
            + comp
            + struct.pack("<II", zlib.crc32(chunk), len(chunk))
        )
    return b"".join(out) + _vcf.BGZF_EOF


def _members(blob: bytes) -> list[int]:
    """Offsets where the BGZF blocks of ``blob`` end."""
    ends, i = [], 0
    while i < len(blob):
        i += struct.unpack("<H", blob[i + 16 : i + 18])[0] + 1
        ends.append(i)
    return ends


def _complete_data_lines(blob: bytes) -> int:
    """Data lines fully decompressed before a gzip stream breaks (zlib directly, not the readers under test)."""
    text, rest = b"", blob
    while rest:
        d = zlib.decompressobj(31)
        try:
            text += d.decompress(rest)
        except zlib.error:
            break
        if not d.eof:
            break
        rest = d.unused_data
    return sum(1 for ln in text.split(b"\n")[:-1] if ln and not ln.startswith(b"#"))


BIG = [vcf_record("chr1", 1000 + i, "A", "T", f"GENE=G{i % 50}") for i in range(1500)]


def _damaged_cohort(root: Path, damaged: dict[str, bytes]) -> Path:
    """A cohort with one good VCF (HX-001-T) and the given files, all in one VCF source."""
    vcf = root / "raw" / "vcf"
    vcf.mkdir(parents=True)
    (vcf / "HX-001-T.vcf").write_text(vcf_text("HX-001-T", S1[:4]), encoding="utf-8")
    for name, blob in damaged.items():
        (vcf / name).write_bytes(blob)
    (root / "sheet.csv").write_text(
        "sample_id,admission_number,site\nHX-001-T,00123,A\nHX-002-T,B77,A\n", encoding="utf-8"
    )
    (root / "key").write_text(KEY, encoding="ascii")
    (root / "key").chmod(0o600)
    doc = {
        "cohort": {"name": "damaged"},
        "sites": [{"id": "A"}],
        "secret": {"file": "key"},
        "output": "out",
        "sources": {
            "genomics": [{"site": "A", "path": "raw/vcf", "format": "vcf", "options": {"sample_sheet": "sheet.csv"}}]
        },
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return root / "cohort.yaml"


def _ledger_of(run: cu.modalities.Curated, name: str) -> dict[str, object]:
    led = run.ledger
    row = led[led["source"] == f"genomics[0] file {KEYRING.token('file', name)}"]
    assert len(row) == 1, name
    return row.iloc[0].to_dict()


def _damage_cases() -> dict[str, tuple[bytes, str]]:
    data = vcf_text("HX-002-T", BIG).encode()
    bgz = _bgzip(data)
    ends = _members(bgz)
    gz = gzip.compress(data)
    flipped = bytearray(bgz)
    for i in range(ends[5] + 40, ends[5] + 48):  # inside the deflate data of the 7th block
        flipped[i] ^= 0xFF
    return {
        "mid_block.vcf.gz": (bgz[: (ends[6] + ends[7]) // 2], "truncated_gzip"),  # EOFError
        "at_boundary.vcf.gz": (bgz[: ends[9]], "truncated_gzip"),  # gzip reads on; the BGZF EOF block is missing
        "flipped.vcf.gz": (bytes(flipped), "corrupt_gzip"),  # zlib error or CRC mismatch
        "plain_gzip_cut.vcf.gz": (gz[: len(gz) * 2 // 3], "truncated_gzip"),
        "not_gzip.vcf.gz": (data, "corrupt_gzip"),  # a .gz name over plain text
    }


def test_truncated_or_corrupt_gzip_vcfs_are_quarantined_per_file_with_their_records_counted(tmp_path: Path) -> None:
    cases = _damage_cases()
    run = cu.curate("genomics", _damaged_cohort(tmp_path, {k: v[0] for k, v in cases.items()}), write=False)
    q = run.quarantine
    for name, (blob, reason) in cases.items():
        token = KEYRING.token("file", name)
        rows = q[q["record"] == token]
        assert rows[["reason", "field"]].values.tolist() == [[reason, "(file)"]], name
        led = _ledger_of(run, name)
        n = 0 if name == "not_gzip.vcf.gz" else _complete_data_lines(blob)
        assert (
            led["n_in"] == n
            and led["n_accepted"] == 0
            and led["quarantined_by_reason"] == (f"{reason}={n}" if n else "")
        ), (name, led)
        assert rows["detail"].str.match(rf"site A: .*; {n} record\(s\) read from it are set aside with the file").all()
    assert 0 < _ledger_of(run, "mid_block.vcf.gz")["n_in"] < len(BIG)
    f = run.failures  # a damaged file that gave no record at all is also named as an empty source
    assert f.loc[f["check_id"] == "genomics.completeness.source_empty", "rule"].tolist() == [
        f"file {KEYRING.token('file', 'not_gzip.vcf.gz')}: set aside as corrupt_gzip (see the quarantine); re-export "
        "it with its records, or remove it from the source"
    ]
    assert _ledger_of(run, "at_boundary.vcf.gz")["n_in"] > 0
    assert (
        q.loc[q["record"] == KEYRING.token("file", "mid_block.vcf.gz"), "detail"]
        .str.contains("the gzip stream ends before its end marker")
        .all()
    )
    # nothing of a damaged file reaches the tables; the good file does, and every stage reconciles
    v = run.data.tables["variants"]
    assert set(v["file"]) == {KEYRING.token("file", "HX-001-T.vcf")} and len(v) == 4
    assert run.ledger["balanced"].all()
    files = run.ledger.set_index("stage").loc["load:files"]
    assert files["n_in"] == 6 and files["n_accepted"] == 1
    assert "HX-002-T" not in " ".join(q["detail"])


def test_damage_of_maps_read_errors_to_reason_codes() -> None:
    assert _vcf.damage_of(EOFError(), 3).reason == "truncated_gzip"
    assert _vcf.damage_of(zlib.error("x"), 3).reason == "corrupt_gzip"
    assert _vcf.damage_of(gzip.BadGzipFile("CRC check failed"), 3).reason == "corrupt_gzip"
    perm = _vcf.damage_of(PermissionError(13, "denied"), 0)
    assert (perm.reason, perm.detail) == ("unreadable_file", "the file cannot be read (PermissionError)")


def test_a_valueless_gene_info_key_quarantines_its_record(tmp_path: Path) -> None:
    records = [
        vcf_record("chr7", 55191822, "T", "G", "GENE;HGVSP=p.L858R"),  # GENE declared String: no value
        vcf_record("chr7", 55191823, "T", "G", "GENE=EGFR;HGVSP"),  # HGVSP declared String: no value
        vcf_record("chr7", 55191824, "T", "G", "GENE=;HGVSP=p.X"),  # empty value
        vcf_record("chr12", 25245351, "C", "A", "GENE=KRAS;SOMATIC;HGVSP=p.G12C"),
    ]  # an undeclared flag is fine
    cohort = _damaged_cohort(tmp_path, {"HX-002-T.vcf": vcf_text("HX-002-T", records).encode()})
    run = cu.curate("genomics", cohort, write=False)
    v = run.data.tables["variants"]
    assert "true" not in set(v["gene"].dropna()) | set(v["protein_change"].dropna())
    assert v.loc[v["file"] == KEYRING.token("file", "HX-002-T.vcf"), "gene"].tolist() == ["KRAS"]
    q = run.quarantine
    bad = q[q["reason"] == "malformed_info"]
    assert bad["field"].tolist() == ["INFO"] * 3 and set(bad["pseudonym"]) == {pt("B77", "A")}
    assert bad["detail"].tolist() == [
        "site A: line 15: INFO key GENE has no value where the header declares Type=String (write . for a missing "
        "value); fix or re-export this record",
        "site A: line 16: INFO key HGVSP has no value where the header declares Type=String (write . for a missing "
        "value); fix or re-export this record",
        "site A: line 17: INFO key GENE has an empty value where the header declares Type=String (write . for a "
        "missing value); fix or re-export this record",
    ]
    assert _ledger_of(run, "HX-002-T.vcf")["quarantined_by_reason"] == "malformed_info=3"
    assert run.ledger["balanced"].all()


def test_info_problems_follow_the_header_declarations() -> None:
    types = {"DP": ("1", "Integer"), "AF": ("A", "Float"), "DB": ("0", "Flag"), "NOTE": ("1", "String")}
    assert _vcf.info_problem("DP=12;AF=0.1,.;DB;NOTE=x", types) is None
    assert _vcf.info_problem("DP=12x", types) == "INFO key DP is not a number where the header declares Type=Integer"
    assert _vcf.info_problem("AF=0.1,abc", types) == "INFO key AF is not a number where the header declares Type=Float"
    assert _vcf.info_problem("NOTE", types) is not None and _vcf.info_problem("SVTYPE", {}) is not None
    assert _vcf.info_problem("ZHANG_SAN;OTHER", types) is None  # undeclared keys are never named (could be any text)


def test_a_maf_without_a_required_column_is_quarantined_as_a_file_and_its_records_counted(tmp_path: Path) -> None:
    head = ["Hugo_Symbol", "Chromosome", "Start_Position", "Reference_Allele", "Tumor_Seq_Allele2", "t_depth"]
    rows = [
        ["KRAS", "chr12", "25245351", "C", "A", "400"],
        ["EGFR", "chr7", "55191822", "T", "G", "300"],
        ["TP53", "chr17", "7675088"],
    ]
    g = tmp_path / "raw"
    g.mkdir()
    (g / "calls.maf").write_text(
        "#version 2.4\n" + "\n".join("\t".join(r) for r in [head, *rows]) + "\n", encoding="utf-8"
    )
    (tmp_path / "key").write_text(KEY, encoding="ascii")
    (tmp_path / "key").chmod(0o600)
    doc = {
        "cohort": {"name": "maf"},
        "sites": [{"id": "A"}],
        "secret": {"file": "key"},
        "output": "out",
        "sources": {"genomics": [{"site": "A", "path": "raw/calls.maf", "format": "maf"}]},
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = cu.curate("genomics", tmp_path / "cohort.yaml", write=False)
    q = run.quarantine
    assert q[["record", "field", "reason"]].values.tolist() == [
        [KEYRING.token("file", "calls.maf"), "(file)", "missing_columns"]
    ]
    assert q["detail"].iloc[0] == (
        "site A: the MAF header lacks the required column(s) Tumor_Sample_Barcode; export the MAF with every column "
        "of Tumor_Sample_Barcode, Hugo_Symbol, Chromosome, Start_Position, Reference_Allele, Tumor_Seq_Allele2; "
        "3 record(s) read from it are set aside with the file"
    )
    led = _ledger_of(run, "calls.maf")
    assert (led["n_in"], led["n_accepted"], led["quarantined_by_reason"]) == (3, 0, "missing_columns=3")
    checks = run.checks.set_index("check_id")
    assert checks.loc["genomics.conformance.maf", "verdict"] == "fail"
    assert run.ledger["balanced"].all() and len(run.data.tables["variants"]) == 0


def test_maf_positions_and_read_counts_that_are_not_numbers_quarantine_their_line(tmp_path: Path) -> None:
    head = "\t".join(
        [
            "Hugo_Symbol",
            "Chromosome",
            "Start_Position",
            "Reference_Allele",
            "Tumor_Seq_Allele2",
            "Tumor_Sample_Barcode",
            "t_depth",
            "t_alt_count",
        ]
    )
    p = tmp_path / "x.maf"
    rows = [
        "KRAS\tchr12\t25245351\tC\tA\tS1\t400\t100",
        "KRAS\tchr12\t2524x\tC\tA\tS1\t400\t1",
        "KRAS\tchr12\t25245351\tC\tA\tS1\tNA\t.",
        "KRAS\tchr12\t25245351\tC\tA\tS1\t4o0\t1",
    ]
    p.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    maf = _maf.read_maf(p)
    assert [(b.line, b.reason) for b in maf.bad] == [
        (3, "Start_Position is not a whole number"),
        (5, "t_depth is not a whole number"),
    ]
    assert maf.frame["_line"].tolist() == [2, 4] and maf.n_records == 4


EMPTY_VCF_HEADER = vcf_text("HX-009-T", [])


@pytest.mark.parametrize(
    ("name", "fmt", "text", "what"),
    [
        ("a.vcf", "vcf", "", "0-byte file"),
        ("a.vcf", "vcf", EMPTY_VCF_HEADER, "header only"),
        ("a.vcf.gz", "vcf", "gz:" + EMPTY_VCF_HEADER, "header only"),
        (
            "a.maf",
            "maf",
            "#version 2.4\nHugo_Symbol\tChromosome\tStart_Position\tReference_Allele\tTumor_Seq_Allele2\t"
            "Tumor_Sample_Barcode\n\n",
            "header only",
        ),
        ("a.maf", "maf", "", "0-byte file"),
        ("qc.tsv", "tsv", "sample_id\tmean_depth\tpct_q30\tpct_target_100x\n", "header only"),
        ("qc.tsv", "tsv", "", "0-byte file"),
    ],
)
def test_an_empty_source_is_the_source_empty_finding(tmp_path: Path, name: str, fmt: str, text: str, what: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    if text.startswith("gz:"):
        (raw / name).write_bytes(_bgzip(text[3:].encode()))
    else:
        (raw / name).write_text(text, encoding="utf-8")
    (raw / "empty_folder").mkdir()
    (tmp_path / "key").write_text(KEY, encoding="ascii")
    (tmp_path / "key").chmod(0o600)
    src = {"site": "A", "path": f"raw/{name}", "format": fmt, **({"table": "qc"} if fmt == "tsv" else {})}
    doc = {
        "cohort": {"name": "empty"},
        "sites": [{"id": "A"}],
        "secret": {"file": "key"},
        "output": "out",
        "sources": {"genomics": [src, {"site": "A", "path": "raw/empty_folder", "format": "vcf"}]},
    }
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = cu.curate("genomics", tmp_path / "cohort.yaml", write=False)
    res = run.checks.set_index("check_id").loc["genomics.completeness.source_empty"]
    assert (res["verdict"], res["n_failed"], res["n_checked"]) == ("fail", 2, 2)
    f = run.failures
    got = f.loc[f["check_id"] == "genomics.completeness.source_empty", ["field", "rule"]].values.tolist()
    assert got == [
        [
            "genomics[0]",
            f"file {KEYRING.token('file', name)}: {what}; re-export it with its records, or remove it from the source",
        ],
        [
            "genomics[1]",
            "no file: the folder holds no vcf file; re-export it with its records, or remove it from the source",
        ],
    ]
    assert run.ledger["balanced"].all() and len(run.quarantine) == 0
    assert not run.checks["verdict"].eq("error").any()


def test_records_the_parser_does_not_return_are_quarantined_as_unparsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _vcf.read_vcf

    def lossy(path: Path):  # type: ignore[no-untyped-def]
        header, records = real(path)
        if path.name != "HX-002-T.vcf":
            return header, records
        return header, (r for r in records if getattr(r, "line", 0) != 15)

    monkeypatch.setattr(_vcf, "read_vcf", lossy)
    cohort = _damaged_cohort(tmp_path, {"HX-002-T.vcf": vcf_text("HX-002-T", S1[:3]).encode()})
    run = cu.curate("genomics", cohort, write=False)
    led = _ledger_of(run, "HX-002-T.vcf")
    assert (led["n_in"], led["n_accepted"], led["quarantined_by_reason"]) == (3, 2, "unparsed_records=1")
    q = run.quarantine
    assert q.loc[q["reason"] == "unparsed_records", "detail"].tolist() == [
        "site A: 1 data line(s) counted in the file were not returned by the reader; check the file's line endings "
        "and encoding"
    ]


_LINE = st.sampled_from(
    [
        "chr1\t5\t.\tA\tT\t.\tPASS\tGENE=X\tGT\t0/1",
        "chr1\t5\t.\tA",
        "",
        "   ",
        "\t",
        "# comment",
        "##meta=1",
        "chr1\tx\t.\tA\tT\t.\tPASS\t.\tGT\t0/1",
        "chr1\t5\t.\tA\tT\t.\tPASS\tGENE\tGT\t0/1",
        "\x1c",
        "a\rb\tc",
        "chr1\t5\t.\tA\tT\t.\tPASS\tNOTE=a\u2028b\tGT\t0/1",
        "\u0085",
        "#CHROM\tPOS",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.lists(st.one_of(_LINE, st.text(max_size=12)), max_size=12),
    crlf=st.booleans(),
    bom=st.booleans(),
    gz=st.booleans(),
    header=st.booleans(),
)
def test_the_independent_count_equals_what_the_parser_accounts_for(
    tmp_path: Path, body: list[str], crlf: bool, bom: bool, gz: bool, header: bool
) -> None:
    text = (vcf_text("S", []) if header else "") + "\n".join(body)
    data = (("\ufeff" if bom else "") + (text.replace("\n", "\r\n") if crlf else text)).encode("utf-8")
    p = tmp_path / ("x.vcf.gz" if gz else "x.vcf")
    p.write_bytes(_bgzip(data) if gz else data)
    _, records = _vcf.read_vcf(p)
    got = [r for r in records if not isinstance(r, _vcf.Damage)]
    assert _vcf.count_data_lines(p).n_data == len(got)


@pytest.mark.parametrize(
    ("name", "sheet", "reason", "what"),
    [
        ("sheet.xlsx", b"PK\x03\x04garbage", "corrupt_workbook", "cannot be read: not a complete workbook"),
        ("sheet.csv", b"\x1f\x8b\x08\x00garbage", "missing_columns", "the sheet needs sample_id and admission_number"),
        ("sheet.csv", b"id,mrn\nHX-001-T,00123\n", "missing_columns", "the sheet needs sample_id and admission_number"),
    ],
)
def test_a_damaged_sample_sheet_is_a_finding_not_a_crash(
    tmp_path: Path, name: str, sheet: bytes, reason: str, what: str
) -> None:
    cohort = _damaged_cohort(tmp_path, {})
    (tmp_path / name).write_bytes(sheet)
    cohort.write_text(cohort.read_text().replace("sheet.csv", name))
    run = cu.curate("genomics", cohort, write=False)
    q = run.quarantine
    row = q[q["stage"] == "load:sample_sheet"]
    assert row[["record", "field", "reason"]].values.tolist() == [[KEYRING.token("file", name), "(file)", reason]]
    assert name not in row["detail"].iloc[0]
    assert row["detail"].iloc[0].startswith(f"genomics[0].options.sample_sheet: {what}")
    assert row["detail"].iloc[0].endswith("until it is fixed, the samples it lists are not linked to a patient")
    checks = run.checks.set_index("check_id")
    assert checks.loc["genomics.consistency.sample_linkage", "verdict"] == "fail"
    assert len(run.data.tables["variants"]) == 4 and run.ledger["balanced"].all()
