"""Web portal at scale: 10,000 trials x 50 intermediate points, opened read-only in headless Chromium.

Builds the experiment in this package's SQLite storage, serves it with the view engine (what
``nnictl view`` runs) and measures with Playwright, from the click or navigation to the paint:
the trial table's first page and each chart. Unless ``--skip-nni30``, the same data is written into
NNI's own database format and NNI 3.0's portal is measured side by side, from the virtualenv
.bench/nni30 (made with ``pip install nni==3.0`` on first use).

usage: python benchmarks/webui.py [--trials 10000] [--points 50] [--repeat 3] [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from peers import NNI30_VENV, ensure_nni30_venv  # noqa: E402

from nni.experiment.config import ExperimentConfig  # noqa: E402
from nni.experiment.launcher import ExperimentRunner  # noqa: E402
from nni.records import MetricRecord, Trial, TrialStatus  # noqa: E402
from nni.storage.sqlite import SqliteStorage  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
CHARTS = ["metric", "parallel", "duration", "intermediate", "importance", "slice", "contour"]
SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-5, 0.1]},
    "batch_size": {"_type": "choice", "_value": [16, 32, 64, 128]},
    "layers": {"_type": "randint", "_value": [1, 8]},
    "dropout": {"_type": "uniform", "_value": [0, 0.5]},
    "optimizer": {"_type": "choice", "_value": ["sgd", "adam", "rmsprop"]},
}
__all__ = ["build_experiment", "main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synthetic_trials(n_trials: int, n_points: int, seed: int = 0) -> list[Trial]:
    """Trials as an engine would have recorded them: parameters, curves, a dict final metric."""
    rng = random.Random(seed)
    start = int(time.time() * 1000) - n_trials * 2000
    trials = []
    for seq in range(n_trials):
        params = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": rng.choice([16, 32, 64, 128]),
                  "layers": rng.randint(1, 7), "dropout": rng.uniform(0, 0.5),
                  "optimizer": rng.choice(["sgd", "adam", "rmsprop"])}
        quality = 1 - abs(math.log10(params["lr"]) + 3) / 3 - params["dropout"] / 2 + rng.gauss(0, 0.05)
        t0 = start + seq * 2000
        trial_id = f"{seq:05d}"
        trial = Trial(trial_id, seq, seq, {"parameter_id": seq, "parameter_source": "algorithm", "parameters": params,
                                           "parameter_index": 0},
                      status=TrialStatus.SUCCEEDED, submit_time_ms=t0, start_time_ms=t0 + 10,
                      end_time_ms=t0 + 1500 + rng.randint(0, 20000), exit_code=0)
        for step in range(n_points):
            value = quality * (1 - math.exp(-(step + 1) / 10)) + rng.gauss(0, 0.01)
            trial.intermediate.append(MetricRecord(trial_id, seq, "PERIODICAL", step, t0 + 20 * step,
                                                   {"default": value, "loss": 1 - value}))
        trial.final = MetricRecord(trial_id, seq, "FINAL", 0, trial.end_time_ms,
                                   {"default": quality, "loss": 1 - quality})
        trials.append(trial)
    return trials


def build_experiment(folder: Path, trials: list[Trial]) -> tuple[str, ExperimentConfig]:
    """Write the trials into this package's SQLite storage as a finished experiment."""
    experiment_id = "bench10k"
    config = ExperimentConfig(training_service="local")
    config.experiment_name = f"webui benchmark ({len(trials)} trials)"
    config.trial_command = "python3 train.py"
    config.trial_code_directory = folder
    config.experiment_working_directory = folder
    config.search_space = SPACE
    config.tuner.name = "TPE"
    config.tuner.class_args = {"optimize_mode": "maximize"}
    config.trial_concurrency = 8
    config.max_trial_number = len(trials)
    exp_dir = folder / experiment_id
    (exp_dir / "log").mkdir(parents=True, exist_ok=True)
    storage = SqliteStorage(exp_dir / "db")
    first = trials[0].submit_time_ms
    last = max(t.end_time_ms or 0 for t in trials)
    storage.save_profile({"id": experiment_id, "config": config.json(), "status": "DONE", "error": None,
                          "start_time_ms": first, "end_time_ms": last, "elapsed_ms": last - first,
                          "next_parameter_id": len(trials)})
    storage.write_trials(trials)
    storage.close()
    return experiment_id, config


def build_nni30_experiment(home: Path, trials: list[Trial], port: int) -> str:
    """The same trials in NNI 3.0's own database and manifest, for ``nnictl view``."""
    experiment_id = "bench30k"
    exp_dir = home / "nni-experiments" / experiment_id
    (exp_dir / "db").mkdir(parents=True, exist_ok=True)
    (exp_dir / "log").mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(exp_dir / "db" / "nni.sqlite")
    db.executescript("""
        create table TrialJobEvent (timestamp integer, trialJobId text, event text, data text, logPath text,
                                    sequenceId integer, message text);
        create table MetricData (timestamp integer, trialJobId text, parameterId text, type text,
                                 sequence integer, data text);
        create table ExperimentProfile (params text, id text, execDuration integer, startTime integer,
                                        endTime integer, logDir text, nextSequenceId integer, revision integer);
        create index TrialJobEvent_trialJobId on TrialJobEvent(trialJobId);
        create index MetricData_trialJobId on MetricData(trialJobId);
    """)
    first = trials[0].submit_time_ms
    last = max(t.end_time_ms or 0 for t in trials)
    params = {"experimentName": f"webui benchmark ({len(trials)} trials)", "searchSpace": SPACE,
              "trialCommand": "python3 train.py", "trialCodeDirectory": str(home), "trialConcurrency": 8,
              "maxTrialNumber": len(trials), "useAnnotation": False, "debug": False, "logLevel": "info",
              "experimentWorkingDirectory": str(home / "nni-experiments"),
              "tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}},
              "trainingService": {"platform": "local", "trialCommand": "python3 train.py",
                                  "trialCodeDirectory": str(home), "debug": False}}
    db.execute("insert into ExperimentProfile values (?, ?, ?, ?, ?, ?, ?, ?)",
               (json.dumps(params), experiment_id, (last - first) // 1000, first, last,
                str(home / "nni-experiments"), len(trials), 1))
    events, metrics = [], []
    for t in trials:
        hyper = json.dumps({"parameter_id": t.parameter_id, "parameter_source": "algorithm",
                            "parameters": t.parameters, "parameter_index": 0})
        events += [(t.submit_time_ms, t.trial_id, "WAITING", hyper, None, t.sequence_id, None),
                   (t.start_time_ms, t.trial_id, "RUNNING", None, f"file://localhost:{exp_dir}/trials/{t.trial_id}",
                    t.sequence_id, None),
                   (t.end_time_ms, t.trial_id, "SUCCEEDED", None, None, t.sequence_id, None)]
        for m in [*t.intermediate, t.final]:
            metrics.append((m.timestamp_ms, t.trial_id, str(t.parameter_id), m.type, m.sequence,
                            json.dumps(json.dumps(m.value))))
    db.executemany("insert into TrialJobEvent values (?, ?, ?, ?, ?, ?, ?)", events)
    db.executemany("insert into MetricData values (?, ?, ?, ?, ?, ?)", metrics)
    db.commit()
    db.close()
    manifest = {experiment_id: {"experimentName": params["experimentName"], "port": port, "startTime": first,
                                "endTime": last, "status": "STOPPED", "platform": "local",
                                "experimentType": "hpo", "tag": [], "pid": None, "webuiUrl": [],
                                "logDir": str(home / "nni-experiments"), "prefixUrl": None}}
    (home / "nni-experiments" / ".experiment").write_text(json.dumps(manifest))
    return experiment_id


# Records, in the page's own clock, when the first table row appears and is painted.
ROWS_OBSERVER = """
new MutationObserver(() => {
  if (!window.__rowsAt && document.querySelector('tr[data-trial]')) {
    window.__rowsAt = performance.now();
    requestAnimationFrame(() => setTimeout(() => { window.__rowsPainted = performance.now(); }));
  }
}).observe(document, {childList: true, subtree: true});
"""

# Clicks, then resolves once `ready` matches and a frame has been painted: click-to-paint in ms.
CLICK_TO_PAINT = """
async ([click, ready]) => {
  const t0 = performance.now();
  document.querySelector(click).click();
  await new Promise((resolve) => {
    const check = () => { if (document.querySelector(ready)) { obs.disconnect(); resolve(); return true; } return false; };
    const obs = new MutationObserver(check);
    if (!check()) obs.observe(document, {childList: true, subtree: true, attributes: true});
  });
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  return performance.now() - t0;
}
"""


# The same for NNI's portal, whose tabs are found by their label.
CLICK_TAB_TO_PAINT = """
async ([label, ready]) => {
  const tab = [...document.querySelectorAll('[role=tab]')].find((t) => t.textContent.includes(label));
  const t0 = performance.now();
  tab.click();
  await new Promise((resolve) => {
    const check = () => { if (document.querySelector(ready)) { obs.disconnect(); resolve(); return true; } return false; };
    const obs = new MutationObserver(check);
    if (!check()) obs.observe(document, {childList: true, subtree: true, attributes: true});
  });
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  return performance.now() - t0;
}
"""


def timed(action: Callable[[], None], ready: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    ready()
    return time.perf_counter() - started


def measure_ours(port: int, repeat: int, screenshots: Path | None) -> dict[str, float]:
    """Seconds: page load to the first table page (Playwright's clock and the page's own), then
    click-to-paint in the page's clock for paging, sorting, each chart and the overview."""
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}
    base = f"http://127.0.0.1:{port}/"
    ready = "[data-testid=trials-chart][data-state=ready]"

    def click(page: Any, selector: str, done: str) -> float:
        return page.evaluate(CLICK_TO_PAINT, [selector, done]) / 1000

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for _ in range(repeat):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60000)
            page.add_init_script(ROWS_OBSERVER)
            results.setdefault("trial table, first page (page load)", []).append(timed(
                lambda page=page: page.goto(base + "#/trials"),
                lambda page=page: page.wait_for_selector("tr[data-trial]")))
            page.wait_for_function("window.__rowsPainted !== undefined")
            results.setdefault("  same, in the page's clock", []).append(page.evaluate("window.__rowsPainted") / 1000)
            page.wait_for_selector(ready)
            results.setdefault("trial table, next page", []).append(click(
                page, "[data-testid=page-next]", "tr[data-trial=\"00020\"]"))
            results.setdefault("trial table, sort by metric", []).append(click(
                page, "th[data-sort='metric:default']", "th[data-sort='metric:default'][aria-sort]"))
            for tab in CHARTS[1:] + CHARTS[:1]:
                results.setdefault(f"chart: {tab}", []).append(click(
                    page, f"[data-testid=chart-tabs] [data-tab={tab}]", ready))
            results.setdefault("overview (top trials chart)", []).append(click(
                page, "[data-testid=nav-overview]", "[data-testid=top-chart][data-state=ready]"))
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.wait_for_selector("[data-testid=top-table]")
                page.wait_for_timeout(300)
                page.screenshot(path=str(screenshots / "overview.png"))
                page.click("[data-testid=nav-trials]")
                page.wait_for_selector("tr[data-trial]")
                page.wait_for_selector(ready)
                page.wait_for_timeout(300)
                page.screenshot(path=str(screenshots / "trials.png"))
                screenshots = None
            page.context.close()
        browser.close()
    return {name: statistics.median(values) for name, values in results.items()}


def measure_nni30(trials: list[Trial], repeat: int) -> dict[str, float] | str:
    reason = ensure_nni30_venv()
    if reason:
        return f"skipped: {reason}"
    nnictl = NNI30_VENV / "bin" / "nnictl"
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="nni30-home-"))
    port = free_port()
    experiment_id = build_nni30_experiment(home, trials, port)
    env = {**os.environ, "HOME": str(home)}
    started = subprocess.run([str(nnictl), "view", experiment_id, "--port", str(port)], env=env,
                             capture_output=True, text=True, timeout=180)
    results: dict[str, list[float]] = {}
    try:
        if started.returncode != 0:
            return f"skipped: NNI 3.0's view did not start: {started.stderr.strip()[-300:]}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            for _ in range(repeat):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                # NNI's page asks a CDN for its icons; refuse that as the test machine would.
                context.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
                page = context.new_page()
                page.set_default_timeout(180000)
                try:
                    results.setdefault("trial table, first page (page load)", []).append(timed(
                        lambda page=page: page.goto(f"http://127.0.0.1:{port}/detail"),
                        lambda page=page: page.wait_for_selector(".ms-DetailsRow")))
                    page.wait_for_timeout(500)
                    for label, name in [("Hyper-parameter", "parallel"), ("Duration", "duration"),
                                        ("Intermediate result", "intermediate"), ("Default metric", "metric")]:
                        results.setdefault(f"chart: {name}", []).append(page.evaluate(
                            CLICK_TAB_TO_PAINT, [label, "[role=tabpanel] canvas"]) / 1000)
                except Exception as error:  # NNI's page layout may differ: report what was measured
                    print(f"NNI 3.0 measurement stopped: {type(error).__name__}: {str(error)[:200]}")
                context.close()
            browser.close()
    finally:
        subprocess.run([str(nnictl), "stop", "--all"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
    return {name: statistics.median(values) for name, values in results.items() if name != "error"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, default=None, help="save overview.png and trials.png here")
    parser.add_argument("--skip-nni30", action="store_true")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")

    started = time.perf_counter()
    trials = synthetic_trials(args.trials, args.points)
    folder = Path(tempfile.mkdtemp(prefix="nni-webui-bench-"))
    os.environ["HOME"] = str(folder)  # a private manifest for the view
    experiment_id, config = build_experiment(folder, trials)
    print(f"built {args.trials} trials x {args.points} points in {time.perf_counter() - started:.1f} s")

    port = free_port()
    started = time.perf_counter()
    runner = ExperimentRunner(experiment_id, config, port=port, mode="view")
    runner.start_in_thread()
    print(f"view engine loaded and serving in {time.perf_counter() - started:.1f} s")
    try:
        ours = measure_ours(port, args.repeat, args.screenshots)
    finally:
        runner.stop()
        shutil.rmtree(folder, ignore_errors=True)
    theirs = "skipped (--skip-nni30)" if args.skip_nni30 else measure_nni30(trials, args.repeat)

    print(f"\nmedian of {args.repeat}, seconds from navigation (or click) to paint "
          f"({args.trials} trials x {args.points} intermediate points)")
    print(f"{'view':40} {'this package':>14} {'NNI 3.0':>10} {'ratio':>7}")
    for name, value in ours.items():
        other = theirs.get(name) if isinstance(theirs, dict) else None
        ratio = f"{other / value:6.1f}x" if other else ""
        print(f"{name:40} {value:14.3f} {(f'{other:.3f}' if other else '-'):>10} {ratio:>7}")
    if isinstance(theirs, str):
        print(f"NNI 3.0: {theirs}")
    table = ours["trial table, first page (page load)"]
    charts = {k: v for k, v in ours.items() if k.startswith("chart:")}
    print(f"\ntargets: first table page < 1 s: {'met' if table < 1 else 'MISSED'} ({table:.3f} s); "
          f"every chart < 2 s: {'met' if max(charts.values()) < 2 else 'MISSED'} (slowest {max(charts.values()):.3f} s)")


if __name__ == "__main__":
    main()
