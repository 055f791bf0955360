"""The Dask executor: the demo on a LocalCluster gives the local checks; a worker killed mid-run never leaves
a partial bundle that verifies."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from curation.security.verify import verify_bundle

from .conftest import make_fake_cohort, register_fakes

pytest.importorskip("distributed")

pytestmark = pytest.mark.slow
STEPS = ["clinical", "lab"]  # a source step and one that needs it: short, and the needs are honoured
COLS = ["check_id", "verdict", "n_checked", "n_failed"]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curation.demo import generate

    return generate(tmp_path_factory.mktemp("dask-demo") / "demo", patients=30, seed=3)


def _checks(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "quality" / "checks.parquet")
    return df[COLS].sort_values("check_id").reset_index(drop=True)


def test_demo_on_a_local_cluster_gives_the_local_checks(small_demo: Path, tmp_path: Path) -> None:
    from curation.run import run_cohort

    local = run_cohort(small_demo, out=tmp_path / "local", only=STEPS, jobs=2, progress=None)
    lines: list[str] = []
    dask = run_cohort(small_demo, out=tmp_path / "dask", only=STEPS, jobs=2, executor="dask", progress=lines.append)
    assert dask.exit_code == local.exit_code and dask.verification is not None and dask.verification.ok
    assert len(_checks(local.out)) > 20
    pd.testing.assert_frame_equal(_checks(dask.out), _checks(local.out))
    assert {n.name: n.verdict for n in dask.notebooks} == {n.name: n.verdict for n in local.notebooks}
    assert "executor" in lines[0] or "worker(s)" in lines[0]


def _kill_a_busy_worker(client: Any, done: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first worker seen running a task (its nanny starts a new one)."""
    while not done.is_set():
        busy = [w for w, tasks in client.processing().items() if tasks]
        if busy:
            time.sleep(1.0)  # inside the job (a notebook's kernel has started), not before it
            pid = next(iter(client.run(os.getpid, workers=busy[:1]).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.2)


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_worker_killed_mid_run_gives_completion_or_an_unfinished_bundle(
    allowed_failures: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask
    from distributed import Client, LocalCluster

    from curation.run import run_cohort
    from curation.run.cluster import WorkerLost

    cohort = make_fake_cohort(tmp_path, boom=False)
    register_fakes(monkeypatch, tmp_path / "modules")
    # the workers find the fake modality through its entry point, as they would a plug-in
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path / "modules"), os.environ.get("PYTHONPATH")]))
    )
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}),
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        done, killed = threading.Event(), list[int]()
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, done, killed), daemon=True)
        killer.start()
        try:
            outcome = run_cohort(
                cohort,
                jobs=2,
                notebooks=tmp_path / "notebooks",
                progress=None,
                executor="dask",
                scheduler=cluster.scheduler_address,
            )
        except WorkerLost as exc:
            assert killed and allowed_failures == 0, exc
            assert "its Dask workers died while running it" in str(exc)
            assert not verify_bundle(tmp_path / "cohort" / "out").ok  # run.json still says running
            return
        finally:
            done.set()
            killer.join()
    assert killed, "no worker was seen busy: nothing was killed"
    # the scheduler ran the lost job again on the other (or the restarted) worker: a complete run
    assert outcome.statuses == {"fake": "fail"}
    assert outcome.verification is not None and outcome.verification.ok
    checks = pd.read_parquet(outcome.out / "quality" / "checks.parquet")
    assert set(checks["check_id"]) >= {"fake.plausibility.value", "fake.ledger_balanced"}
