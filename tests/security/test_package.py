"""`curation package` / `curation unpack`: age round trip, and bad input that writes nothing."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

pyrage = pytest.importorskip("pyrage")

from curation.security import verify_bundle  # noqa: E402
from curation.security.package import PackageError, package_bundle, unpack_package  # noqa: E402


@pytest.fixture
def keys(tmp_path: Path) -> tuple[str, Path]:
    identity = pyrage.x25519.Identity.generate()
    keyfile = tmp_path / "partner.key"
    keyfile.write_text(f"# created: test\n{identity}\n", encoding="utf-8")
    keyfile.chmod(0o600)
    return str(identity.to_public()), keyfile


def _events(root: Path) -> list[str]:
    return [json.loads(line)["event"] for line in (root / "audit.jsonl").read_text(encoding="utf-8").splitlines()]


def _nothing_in(target: Path) -> None:
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]


def test_package_then_unpack_round_trips_and_verifies(bundle: Path, keys: tuple[str, Path], tmp_path: Path) -> None:
    public, keyfile = keys
    packed = package_bundle(bundle, tmp_path / "out" / "cohort.age", recipients=[public], operator="sender")
    data = packed.path.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    assert b"PAR1" not in data and b"run_id" not in data  # no plain Parquet or JSON inside
    assert (packed.path.stat().st_mode & 0o777) == 0o600
    assert _events(bundle)[-1] == "package" and verify_bundle(bundle).ok  # the trail grew; the bundle still verifies
    target = tmp_path / "received" / "bundle"
    unpack_package(packed.path, target, identity=keyfile, operator="partner")
    assert verify_bundle(target).ok
    for p in bundle.rglob("*"):
        if p.is_file() and p.name != "audit.jsonl":
            assert (target / p.relative_to(bundle)).read_bytes() == p.read_bytes()
    assert _events(target) == ["run_start", "run_end", "unpack"]
    assert all((p.stat().st_mode & 0o077) == 0 for p in [target, *target.rglob("*")])


def test_passphrase_mode(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packed = package_bundle(bundle, tmp_path / "p.age", passphrase="correct horse battery staple")
    assert b"-> scrypt " in packed.path.read_bytes()[:200]
    with pytest.raises(PackageError, match="cannot be decrypted with this passphrase"):
        unpack_package(packed.path, tmp_path / "bad", passphrase="wrong")
    _nothing_in(tmp_path / "bad")
    with pytest.raises(PackageError, match="encrypted with a passphrase; unpack it with --passphrase"):
        unpack_package(packed.path, tmp_path / "bad", identity=tmp_path / "none.key")
    assert verify_bundle(unpack_package(packed.path, tmp_path / "good", passphrase="correct horse battery staple")).ok


def test_wrong_identity_truncated_or_tampered_packages_write_nothing(
    bundle: Path, keys: tuple[str, Path], tmp_path: Path
) -> None:
    public, keyfile = keys
    packed = package_bundle(bundle, tmp_path / "cohort.age", recipients=[public])
    other = tmp_path / "other.key"
    other.write_text(f"{pyrage.x25519.Identity.generate()}\n", encoding="utf-8")
    other.chmod(0o600)
    target = tmp_path / "target"
    with pytest.raises(PackageError, match="none of the identities in the key file can open it"):
        unpack_package(packed.path, target, identity=other)
    _nothing_in(target)
    data = packed.path.read_bytes()
    for name, damaged in (
        ("truncated.age", data[: len(data) - 100]),
        ("cut.age", data[: len(data) // 2]),
        ("tampered.age", data[:-300] + bytes([data[-300] ^ 1]) + data[-299:]),
    ):
        bad = tmp_path / name
        bad.write_bytes(damaged)
        with pytest.raises(PackageError, match="damaged, truncated or tampered"):
            unpack_package(bad, target, identity=keyfile)
        _nothing_in(target)
    plain = tmp_path / "plain.age"
    plain.write_bytes(b"PK\x03\x04 not age")
    with pytest.raises(PackageError, match="not an age-encrypted file"):
        unpack_package(plain, target, identity=keyfile)
    _nothing_in(target)


def test_bad_recipients_and_unreleasable_bundles_are_refused(
    bundle: Path, keys: tuple[str, Path], tmp_path: Path
) -> None:
    public, _ = keys
    to = tmp_path / "x.age"
    with pytest.raises(PackageError, match=r"--recipient #2 .* is not an age public key"):
        package_bundle(bundle, to, recipients=[public, "age1notakey"])
    assert not to.exists()
    record = json.loads((bundle / "run.json").read_text(encoding="utf-8"))
    record["releasable"] = False
    (bundle / "run.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(PackageError, match="does not verify"):  # an edited run.json no longer matches
        package_bundle(bundle, to, recipients=[public])
    from curation.io.bundle import Bundle

    Bundle(bundle).write_manifest()  # as a run that found a leak writes it
    from curation.security import audit

    audit.append(
        bundle,
        "run_end",
        run_id=record["run_id"],
        manifest_sha256=hashlib.sha256((bundle / "manifest-sha256.txt").read_bytes()).hexdigest(),
    )
    with pytest.raises(PackageError, match=r"not releasable.*--allow-unreleasable REASON"):
        package_bundle(bundle, to, recipients=[public])
    assert not to.exists()
    package_bundle(bundle, to, recipients=[public], allow_unreleasable="steward checked: false alarm on a gene name")
    last = json.loads((bundle / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert last["event"] == "package" and last["allow_unreleasable"].startswith("steward checked")


def test_cli_bad_input_exits_2_with_one_message(
    bundle: Path,
    keys: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from curation.cli import main

    public, keyfile = keys

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["curation", *args])
        with pytest.raises(SystemExit) as exc:
            main()
        return int(exc.value.code or 0)

    age = tmp_path / "c.age"
    assert run("package", str(bundle), "--recipient", public, "--to", str(age)) == 0
    keyfile.chmod(0o644)
    assert run("unpack", str(age), "--identity", str(keyfile), "--to", str(tmp_path / "t")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chmod 600" in err[0]
    keyfile.chmod(0o600)
    assert run("unpack", str(age), "--identity", str(keyfile), "--to", str(tmp_path / "t")) == 0
    assert run("verify", str(tmp_path / "t")) == 0
    assert run("package", str(bundle), "--recipient", "nope", "--to", str(tmp_path / "d.age")) == 2
    assert not (tmp_path / "d.age").exists()
