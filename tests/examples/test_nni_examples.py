"""NNI's own examples (``../shared/nni-examples``), unchanged, run through the real ``nnictl create``.

Each test copies an example folder to a temporary one and never edits a line of it: where the
example's config runs 100 trials, a second config beside it (the original plus a smaller
``maxTrialNumber``) keeps the test short. Trials find ``python3`` first on PATH in this
interpreter's folder, as a user's activated virtualenv would give it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import free_port

from nni.experiment.rest_client import RestClient
from nni.storage.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT.parent / "shared" / "nni-examples"

pytestmark = pytest.mark.slow


def _example(relative: str, tmp_path: Path) -> Path:
    """A writable copy of one example folder (the shared one is read-only and stays untouched)."""
    source = EXAMPLES / relative
    if not source.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"NNI's examples are missing: {source}")
        pytest.skip(f"NNI's examples are not beside this checkout ({source})")
    target = tmp_path / source.name
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


def _env(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH")) if p)
    return env


def _nnictl(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"nnictl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _small_config(folder: Path, config: str = "config.yml", trials: int = 2, **changes: Any) -> str:
    data = yaml.safe_load((folder / config).read_text())
    data.update(maxTrialNumber=trials, **changes)
    name = f"small_{config}"
    (folder / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return name


def _run(folder: Path, config: str, env: dict[str, str], experiment_id: str, timeout: float = 240) -> list[dict]:
    """``nnictl create`` the config, wait until the experiment ends, return its exported results."""
    _nnictl("create", "--config", config, "--port", str(free_port()), "--id", experiment_id,
            cwd=folder, env=env)
    try:
        entry = read_manifest()[experiment_id]
        rest = RestClient(entry["port"], token=entry.get("token"))
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            status = rest.get("/check-status")["status"]
            if status in ("DONE", "ERROR", "STOPPED"):
                break
            time.sleep(0.2)
        trials = rest.get("/trial-jobs")
        assert status == "DONE", (status, trials)
        assert trials and all(t["status"] == "SUCCEEDED" for t in trials), trials
        export = folder / "export.json"
        _nnictl("experiment", "export", experiment_id, "--type", "json", "--filename", str(export),
                cwd=folder, env=env)
        return json.loads(export.read_text())
    finally:
        _nnictl("stop", experiment_id, cwd=folder, env=env, check=False)


def test_sklearn_classification(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the example trial needs scikit-learn")
    folder = _example("trials/sklearn/classification", tmp_path)
    results = _run(folder, _small_config(folder), _env(), "skcls")
    assert len(results) == 2
    for result in results:
        assert set(result["parameter"]) == {"C", "kernel", "degree", "gamma", "coef0"}
        assert 0 < result["value"] <= 1


def test_sklearn_regression(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the example trial needs scikit-learn")
    folder = _example("trials/sklearn/regression", tmp_path)
    results = _run(folder, _small_config(folder), _env(), "skreg")
    assert len(results) == 2
    assert all(r["parameter"]["model_name"] in ("LinearRegression", "Lars", "Ridge", "ARDRegression")
               for r in results)


def _write_idx(path: Path, array: Any) -> None:
    """One MNIST file in its idx format (gzip-free, as torchvision's MNIST reads from raw/)."""
    magic = 0x0803 if array.ndim == 3 else 0x0801
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", size) for size in array.shape)
    path.write_bytes(header + array.astype("uint8").tobytes())


def _write_mnist(folder: Path) -> None:
    """A tiny MNIST-format dataset where the example looks (``./data/MNIST/raw``): nothing is downloaded."""
    import numpy as np

    raw = folder / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 64), ("t10k", 32)):
        labels = rng.integers(0, 10, count)
        images = rng.integers(0, 40, (count, 28, 28))
        for i, label in enumerate(labels):  # a learnable mark: a bright row per digit
            images[i, 2 + 2 * label, 4:24] = 250
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        for name in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
            (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes()))


def _loads_torchvision(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import torch, torchvision"], capture_output=True, timeout=120)
    return probe.returncode == 0


def _torch_trial_env(tmp_path: Path) -> dict[str, str]:
    """Where trials find a ``python3`` whose torch and torchvision load.

    This interpreter's own first; else Debian's python3-torchvision (PyPI's torchvision wheels are
    CUDA builds that do not load against a CPU torch), importing this checkout's ``nni``.
    """
    if _loads_torchvision(sys.executable):
        return _env()
    if Path("/usr/bin/python3").exists() and _loads_torchvision("/usr/bin/python3"):
        bin_dir = tmp_path / "debian-python"
        bin_dir.mkdir()
        (bin_dir / "python3").symlink_to("/usr/bin/python3")
        env = _env(ROOT)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
        return env
    message = "the example trial needs torch with a matching torchvision (scripts/install_torchvision.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_mnist_pytorch(tmp_path: Path) -> None:
    env = _torch_trial_env(tmp_path)
    folder = _example("trials/mnist-pytorch", tmp_path)
    _write_mnist(folder)
    # the script's own --epochs flag is a command-line default; the trial command stays the example's
    results = _run(folder, _small_config(folder), env, "mnistpt")
    assert len(results) == 2
    for result in results:
        assert set(result["parameter"]) == {"batch_size", "hidden_size", "lr", "momentum"}
        assert 0 <= result["value"] <= 100


NESTED_TRIAL = '''\
"""Stand-in for the example's TensorFlow 1 mnist.py (not shipped): checks the nested shape."""
import json
import nni

params = nni.get_next_parameter()
sample = json.load(open("sample.json"))
space = json.load(open("search_space.json"))
ok = set(params) == set(sample)
for layer, value in params.items():
    options = {o["_name"]: o for o in space[layer]["_value"]}
    ok = ok and isinstance(value, dict) and value.get("_name") in options
    ok = ok and set(value) == set(options[value["_name"]])
nni.report_final_result(1.0 if ok else 0.0)
'''


def test_nested_search_space(tmp_path: Path) -> None:
    folder = _example("trials/mnist-nested-search-space", tmp_path)
    (folder / "mnist.py").write_text(NESTED_TRIAL)
    results = _run(folder, _small_config(folder, trials=3), _env(), "nested")
    assert len(results) == 3 and all(r["value"] == 1.0 for r in results), results


def _has_setuptools() -> bool:
    try:
        import setuptools  # noqa: F401
    except ImportError:
        return False
    return True


def test_customized_tuner(tmp_path: Path) -> None:
    """NNI's documented steps: pip install the package, register its meta file, use it by name."""
    pytest.importorskip("sklearn", reason="the trial used here needs scikit-learn")
    tuner = _example("tuners/customized_tuner", tmp_path)
    site = tmp_path / "site"
    # --target keeps the test's install out of the venv; without setuptools here pip fetches it to build
    offline = ["--no-build-isolation", "--no-index"] if _has_setuptools() else []
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline, "--target", str(site),
                    str(tuner)], check=True, capture_output=True)
    env = _env(site)
    registered = _nnictl("algo", "register", "--meta_path", "meta_file.yml", cwd=tuner, env=env)
    assert "demotuner registered" in registered.stdout
    listed = _nnictl("algo", "list", cwd=tuner, env=env).stdout
    assert "demotuner" in listed and "user" in listed and "TPE" in listed
    assert "demo_tuner.MyClassArgsValidator" in _nnictl("algo", "show", "demotuner", cwd=tuner, env=env).stdout

    trials = _example("trials/sklearn/classification", tmp_path)
    good = _small_config(trials, tuner={"name": "demotuner", "classArgs": {"optimize_mode": "maximize"}})
    results = _run(trials, good, env, "demotuner")
    assert len(results) == 2

    bad = trials / "bad.yml"
    bad.write_text((trials / good).read_text().replace("optimize_mode: maximize", "optimize_mode: upward"))
    refused = _nnictl("create", "--config", str(bad), "--port", str(free_port()), "--id", "demobad",
                      cwd=trials, env=env, check=False)
    assert refused.returncode == 1
    assert "optimize_mode upward is invalid" in refused.stdout + refused.stderr
    assert not list((Path.home() / "nni-experiments" / "demobad").glob("trials/*"))

    _nnictl("algo", "unregister", "demotuner", cwd=tuner, env=env)
    assert "demotuner" not in _nnictl("algo", "list", cwd=tuner, env=env).stdout
    gone = _nnictl("create", "--config", good, "--port", str(free_port()), cwd=trials, env=env, check=False)
    assert gone.returncode == 1 and "unknown built-in tuner 'demotuner'" in gone.stdout + gone.stderr
