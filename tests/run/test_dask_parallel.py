"""Parallel work inside the modalities on the run's Dask cluster (curation.parallel): the DICOM header index
in file chunks, single-cell QC and doublets per sample and the leak scan per file group give on a
LocalCluster the same values, in the same order, as the local path; a notebook job's kernel finds the
cluster, and a one-thread worker busy with the job still runs the job's chunks."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curation.parallel import SCHEDULER_ENV, dask_client, map_chunks, using

pytest.importorskip("distributed")

# what a notebook's kernel does: a child process of the worker that runs the job
KERNEL = (
    "from curation.parallel import dask_client, map_chunks\n"
    "print(dask_client() is not None, map_chunks(sorted, [3, 1, 2, 5, 4], chunk=2))\n"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded, non-daemonic worker processes, as a run's LocalCluster (shared by the module)."""
    import dask
    from distributed import Client, LocalCluster

    with (
        dask.config.set({"distributed.worker.daemon": False}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as lc,
        Client(lc, set_as_default=False) as client,
    ):
        yield client


def chunk_of_squares(xs: list[int], offset: int = 0) -> list[int]:
    """A task: the squares of a chunk plus a shared offset; 13 is refused with a negative offset."""
    if offset < 0 and 13 in xs:
        msg = "13 refused"
        raise ValueError(msg)
    return [x * x + offset for x in xs]


def a_kernel(_: int) -> str:
    """A notebook job: its kernel (a child process) hands its chunks to the cluster."""
    done = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, timeout=300, check=True)
    return done.stdout


def _keys(client: Any) -> list[str]:
    return [str(k) for k in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))]


def test_map_chunks_gives_the_local_values_in_order(cluster: Any) -> None:
    items = list(range(40))
    local = map_chunks(chunk_of_squares, items, chunk=7, shared=(5,))
    assert local == [x * x + 5 for x in items]
    assert dask_client() is None  # nothing asked for a cluster here
    with using(cluster):
        assert map_chunks(chunk_of_squares, items, chunk=7, shared=(5,)) == local
        # the task's own error is raised here, as it is locally; a fallback computes the chunk instead
        with pytest.raises(ValueError, match="13 refused"):
            map_chunks(chunk_of_squares, items, chunk=7, shared=(-1,))
        got = map_chunks(chunk_of_squares, items, chunk=7, shared=(-1,), fallback=lambda c: [-x for x in c])
    assert got == [-x if 7 <= x < 14 else x * x - 1 for x in items]
    assert any(k.startswith("curation_chunk_of_squares") for k in _keys(cluster))


@pytest.mark.slow
def test_notebook_jobs_hand_their_chunks_to_the_same_cluster(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three jobs on two one-thread workers, each job's kernel waiting for its chunks: no deadlock (the job's
    thread leaves the pool), and the kernel reaches the run's scheduler through the environment."""
    from curation.run.cluster import DaskExecutor

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    ex = DaskExecutor(cluster.scheduler.address, workers=2)
    try:
        futures = [ex.submit(a_kernel, i) for i in range(3)]
        assert [f.result(timeout=600).strip() for f in futures] == ["True [1, 3, 2, 5, 4]"] * 3
    finally:
        ex.shutdown()


# ---------------------------------------------------------------------------------- the modality code paths


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curation.demo import generate

    return generate(tmp_path_factory.mktemp("parallel-demo") / "demo", patients=30, seed=3).parent


@pytest.mark.slow
def test_dicom_header_index_on_the_cluster_equals_local(cluster: Any, demo: Path) -> None:
    from curation.modalities.imaging._index import index_refs
    from curation.modalities.imaging._walk import walk_source

    refs = [r for site in "ABC" for r in walk_source(demo / "raw" / "dicom" / f"site{site}", "dicom")]
    assert len(refs) > 100
    local = index_refs(refs, jobs=2, chunk_size=40)
    with using(cluster):
        remote = index_refs(refs, jobs=2, chunk_size=40)
    assert remote == local  # every row: relpath, ok, reason, parsed fields, in input order
    assert [r["relpath"] for r in remote] == [r.relpath for r in refs]
    assert any(k.startswith("curation_parse_chunk") for k in _keys(cluster))


@pytest.mark.slow
def test_single_cell_qc_and_doublets_per_sample_on_the_cluster_equal_local(cluster: Any, demo: Path) -> None:
    import pandas as pd

    from curation.modalities import immune, make_context, sources_of
    from curation.modalities.immune._standardize import _qc_samples
    from curation.modalities.registry import load_cohort

    config = load_cohort(demo / "cohort.yaml")

    def run() -> tuple[list[Any], list[Any]]:
        ctx = make_context(config)
        data = immune.load(sources_of(config, "immune"), ctx=ctx)
        return _qc_samples(data.objects["samples"], ctx, data=data), data.ledger.entries

    local, local_ledger = run()
    with using(cluster):
        remote, remote_ledger = run()
    assert len(local) >= 3
    assert remote_ledger == local_ledger
    pd.testing.assert_frame_equal(pd.DataFrame([q.row for q in remote]), pd.DataFrame([q.row for q in local]))
    for r, q in zip(remote, local, strict=True):
        pd.testing.assert_frame_equal(r.part.obs, q.part.obs)  # QC columns and doublet scores, cell by cell
        assert repr(r.params) == repr(q.params)  # thresholds used, doublet summary
    assert any(k.startswith("curation__qc_compute") for k in _keys(cluster))


@pytest.mark.slow
def test_leak_scan_per_file_group_on_the_cluster_equals_local(
    cluster: Any, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.deid import scan

    monkeypatch.setattr(scan, "GROUP_BYTES", 256 << 10)  # many groups out of a 13 MB folder
    ids = scan.read_identifiers(demo / "identifiers.txt")
    root = demo / "raw"
    assert len(scan.file_groups(root, [p.relative_to(root).as_posix() for p in sorted(root.rglob("*"))])) > 10
    local = scan.scan_bundle(root, ids)
    with using(cluster):
        remote = scan.scan_bundle(root, scan.Matcher(ids))  # the matcher goes to the workers once
    assert len(local) > 100  # raw sources: full of identifiers
    assert list(remote) == list(local)
    assert list(remote.paths.items()) == list(local.paths.items())
    assert remote.found == local.found
    assert (remote.n_files, remote.n_identifiers, remote.skipped) == (local.n_files, local.n_identifiers, local.skipped)
    assert any(k.startswith("curation_scan_group") for k in _keys(cluster))
