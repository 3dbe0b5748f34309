"""Points on Ray workers equal points computed in this process, byte for byte."""

import json

import pytest

from ristretto.report.execute import run_jobs

ray = pytest.importorskip("ray")

# Ray's own start-up may warn (deprecations in its dependencies); those are not this project's warnings.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")


def _square(context, x, *, log):
    log(f"squaring {x}")
    if x == 13:
        raise ValueError("13 is refused")
    return context["k"] * x * x


def test_jobs_come_back_in_job_order_with_their_logs():
    logs, seen = [], []
    got = run_jobs(_square, {"k": 2}, [(3,), (1,), (2,)], workers=2, done=lambda i, r: seen.append(i), log=logs.append)
    assert got == [18, 2, 8] and sorted(seen) == [0, 1, 2]
    assert sorted(logs) == ["squaring 1", "squaring 2", "squaring 3"]
    assert run_jobs(_square, {"k": 2}, [(3,), (1,)], workers=1, log=logs.append) == [18, 2]


def test_a_task_error_arrives_as_the_task_raised_it():
    with pytest.raises(ValueError, match="13 is refused"):
        run_jobs(_square, {"k": 1}, [(2,), (13,)], workers=2, log=lambda m: None)


def test_ray_points_equal_serial_points_byte_for_byte(tmp_path, lenet, mnist):
    from ristretto.report import sweep

    kw = {"formats": ("dfp", "pow2"), "widths": (4,), "verify_vectors": 200, "ice40": False, "log": lambda m: None}
    serial = sweep(lenet, mnist, out_dir=tmp_path / "serial", workers=1, **kw)
    parallel = sweep(lenet, mnist, out_dir=tmp_path / "ray", workers=2, **kw)
    assert [(p["format"], p["width"]) for p in parallel.points] == [("float32", 32), ("dfp", 4), ("pow2", 4)]
    assert json.dumps(serial.points, sort_keys=True) == json.dumps(parallel.points, sort_keys=True)
    # the workers' unit cache entries are in the driver's cache: a serial re-run recomputes nothing
    units = sorted(p.name for p in (tmp_path / "ray" / "cache").iterdir() if p.name.startswith("unit-"))
    assert units == sorted(p.name for p in (tmp_path / "serial" / "cache").iterdir() if p.name.startswith("unit-"))
    logs = []
    again = sweep(lenet, mnist, out_dir=tmp_path / "ray", workers=1, **dict(kw, log=logs.append))
    assert json.dumps(again.points, sort_keys=True) == json.dumps(serial.points, sort_keys=True)
    assert sum("cached" in m for m in logs) == 3


def _unbox(context, x, *, log):
    return context["box"].v + x


def test_workers_import_a_model_module_found_from_the_drivers_path(tmp_path, monkeypatch):
    """A --model package.module beside the user's working folder: its objects reach the workers."""
    (tmp_path / "raymods_box.py").write_text("class Box:\n    def __init__(self, v):\n        self.v = v\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import raymods_box

    assert run_jobs(_unbox, {"box": raymods_box.Box(7)}, [(1,), (2,)], workers=2, log=lambda m: None) == [8, 9]


def _dies_once(context, x, *, log):
    """Kills its own worker process the first time it runs job ``x`` (a marker file remembers)."""
    import os
    from pathlib import Path

    marker = Path(context["dir"]) / f"died-{x}"
    if x in context["die"] and not marker.exists():
        marker.write_text("once")
        os._exit(1)
    if x in context["always"]:
        os._exit(1)
    return x * 10


def test_a_worker_that_dies_is_replaced_and_its_job_runs_again(tmp_path):
    got = run_jobs(_dies_once, {"dir": str(tmp_path), "die": {2}, "always": set()}, [(1,), (2,), (3,)], workers=2,
                   log=lambda m: None)
    assert got == [10, 20, 30] and (tmp_path / "died-2").exists()


def test_a_job_whose_worker_always_dies_fails_in_one_line(tmp_path):
    from ristretto.report.execute import WorkerLost

    with pytest.raises(WorkerLost, match=r"^job \(2,\) failed 3 times because its Ray worker died"):
        run_jobs(_dies_once, {"dir": str(tmp_path), "die": set(), "always": {2}}, [(1,), (2,)], workers=2,
                 log=lambda m: None)


@pytest.fixture
def ray_head(monkeypatch):
    """A real Ray cluster, started as Ray documents it (``ray start --head``) with its own token, bound to
    127.0.0.1 (Ray otherwise advertises the machine's interface address); stopped after the test."""
    import os
    import secrets
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(32)
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0"  # loopback only (tests/conftest.py)
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    ray_cli = [str(Path(sys.executable).parent / "ray")]
    env = dict(os.environ)
    subprocess.run([*ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus",
                    "2", "--disable-usage-stats", "--include-dashboard=false"], env=env, check=True,
                   capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}", token
    finally:
        subprocess.run([*ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=180)


def test_a_real_cluster_computes_the_serial_points(tmp_path, lenet, mnist, ray_head, monkeypatch):
    import shutil

    from ristretto.report import sweep
    from ristretto.report.execute import ClusterMissing

    address, token = ray_head
    assert run_jobs(_square, {"k": 3}, [(2,), (5,)], ray_address=address, log=lambda m: None) == [12, 75]
    kw = {"formats": ("dfp",), "widths": (4,), "verify_vectors": 200, "ice40": False, "log": lambda m: None}
    serial = sweep(lenet, mnist, out_dir=tmp_path / "serial", workers=1, **kw)
    (tmp_path / "cluster" / "cache").mkdir(parents=True)
    for unit in (tmp_path / "serial" / "cache").glob("unit-*"):  # the units' synthesis, not their points
        shutil.copy(unit, tmp_path / "cluster" / "cache")
    on_cluster = sweep(lenet, mnist, out_dir=tmp_path / "cluster", ray_address=address, **kw)
    assert json.dumps(on_cluster.points, sort_keys=True) == json.dumps(serial.points, sort_keys=True)
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)
    with pytest.raises(ClusterMissing, match=r"asks for an authentication token this driver does not have"):
        run_jobs(_square, {"k": 1}, [(2,)], ray_address=address, log=lambda m: None)
    with pytest.raises(ClusterMissing, match=r"nothing answers there"):
        run_jobs(_square, {"k": 1}, [(2,)], ray_address=address.replace(address.split(":")[1], "1"),
                 log=lambda m: None)
