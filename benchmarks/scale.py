"""Scale: 100,000 trials viewed and live, 256 at once, and how the manager grows, side by side in one run.

Sections (each prints its figures; the summary table at the end holds them all with their targets):

* view: a finished experiment of ``--trials`` trials x ``--points`` intermediate results, written
  through the storage interface, served read-only by its own manager process (``nnictl view``'s
  code); load time, then Playwright in /usr/bin/chromium from navigation or click to paint (first
  table page, sort, status filter, every chart), then NNI's REST lists streamed (time, bytes,
  manager RSS).
* live: a real experiment of ``--live`` trivial trials (a Python process each, reporting a final
  result) in its own manager process: trial rate at the start and the end, peak manager RSS,
  manager CPU per trial, database size and ``GET trial-jobs`` latency as it grows, SSE catching up.
* concurrency: ``--concurrency`` local ``sleep`` trials at once: median delay from a slot freeing to
  the next trial's process starting, and the batch sizes the tuner was asked for.
* ray: the concurrency figures (staggered) on the 2-node test Ray cluster of scripts/services/ray.sh
  (needs root: it runs in network namespace nni-ray), each trial asking for its share of the 4 CPUs,
  and the cluster's CPU seconds per trial.
* ask time: TPE, GP and Auto with ``--concurrency`` pending trials.
* peers: optuna-dashboard on an Optuna study of ``--trials`` trials (first paint of its history
  chart and trial table); NNI 3.0's portal at 10,000 trials (benchmarks/webui.py's measure).
* growth: the figures at 1k, 10k and 100k trials as a table and docs/scale-growth.png.

usage: python benchmarks/scale.py [--quick] [--trials 100000] [--points 10] [--live 100000]
       [--concurrency 256] [--skip-peers] [--png docs/scale-growth.png]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "training_service"))  # the Ray section joins the test cluster

from service_helpers import network_namespace  # noqa: E402

import webui  # noqa: E402
from nni.records import TrialStatus  # noqa: E402
from webui import ARGS, CHROMIUM, CLICK_TO_PAINT, SPACE, build_experiment, free_port, synthetic_trials  # noqa: E402

__all__ = ["main"]

WORKER = HERE / "_scale_worker.py"
TRIAL = "import nni\np = nni.get_next_parameter()\nnni.report_final_result(p.get('x', 0))\n"
CHARTS = ["metric", "parallel", "duration", "intermediate", "importance", "slice", "contour"]
REST_LISTS = ["trial-jobs", "metric-data", "export-data"]

# Picks a status in the trial table's filter, then resolves once the filtered total is painted.
FILTER_TO_PAINT = """
async (status) => {
  const select = document.querySelector('[data-testid=status-filter]');
  const t0 = performance.now();
  select.value = status;
  select.dispatchEvent(new Event('change', {bubbles: true}));
  await new Promise((resolve) => {
    const check = () => {
      const total = document.querySelector('[data-testid=trial-total]');
      if (total && total.textContent.includes('(of')) { obs.disconnect(); resolve(); return true; }
      return false;
    };
    const obs = new MutationObserver(check);
    if (!check()) obs.observe(document, {childList: true, subtree: true, characterData: true});
  });
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  return performance.now() - t0;
}
"""


class Figures:
    """Every figure of the run, in order: (section, name, value, unit, target text, met or None)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float | str, str, str, bool | None]] = []

    def add(self, section: str, name: str, value: float | str, unit: str = "s", target: str = "",
            met: bool | None = None) -> None:
        self.rows.append((section, name, value, unit, target, met))
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {section:12} {name:46} {shown:>12} {unit:6} {target}{'' if met is None else ' met' if met else ' MISSED'}",
              flush=True)

    def print_table(self) -> None:
        print(f"\n{'section':12} {'figure':46} {'value':>12} {'unit':6} target")
        for section, name, value, unit, target, met in self.rows:
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            verdict = "" if met is None else " met" if met else " MISSED"
            print(f"{section:12} {name:46} {shown:>12} {unit:6} {target}{verdict}")


# -- processes and HTTP ---------------------------------------------------------------------------

class Manager:
    """A manager process of benchmarks/_scale_worker.py and its JSON lines."""

    def __init__(self, *args: str, home: Path) -> None:
        env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, str(WORKER), *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        self.ps = psutil.Process(self.process.pid)
        self.peak_rss = 0
        self.serving_cpu_s = 0.0
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._sampling.wait(0.2):
            try:
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            except psutil.Error:
                return

    def message(self, timeout: float = 3600) -> dict[str, Any]:
        """The next JSON line the worker prints (its log lines are skipped)."""
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the manager process ended (exit {self.process.wait()})")
            if line.startswith("{"):
                return json.loads(line)
        raise TimeoutError("the manager process did not answer")

    def cpu_s(self) -> float:
        """The manager's own CPU time (trials are its children and not counted)."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def close(self) -> None:
        self._sampling.set()
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def get(port: int, path: str, timeout: float = 600) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds to the last, bytes) of one GET, the body checked as JSON."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
        first = answer.read(1)
        first_byte = time.perf_counter() - started
        body = first + answer.read()
    total = time.perf_counter() - started
    json.loads(body)
    return first_byte, total, len(body)


def wait_answering(port: int, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            get(port, "/api/v1/nni/check-status", 5)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no manager answers on port {port}")


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- view ----------------------------------------------------------------------------------------

def build_view(folder: Path, n_trials: int, points: int) -> tuple[str, float]:
    """A finished experiment of ``n_trials`` (every tenth FAILED, for the filter) in ``folder``."""
    started = time.perf_counter()
    trials = synthetic_trials(n_trials, points)
    for trial in trials[9::10]:
        trial.status = TrialStatus.FAILED
    experiment_id, _ = build_experiment(folder, trials)
    return experiment_id, time.perf_counter() - started


def open_view(folder: Path, experiment_id: str) -> tuple[Manager, int, float, float]:
    """(manager, port, seconds until it serves, seconds until its curves are loaded too); the
    manager's CPU seconds until it served are in ``manager.serving_cpu_s`` (wall time on a shared
    machine mostly waits for a CPU)."""
    port = free_port()
    started = time.perf_counter()
    manager = Manager("view", str(folder), experiment_id, str(port), home=folder)
    manager.message()
    wait_answering(port)
    serving = time.perf_counter() - started
    manager.serving_cpu_s = manager.cpu_s()
    get(port, "/api/v1/nni/metric-data-latest")  # answers once the curves are in
    return manager, port, serving, time.perf_counter() - started


def measure_page(port: int, repeat: int) -> dict[str, float]:
    """Median seconds from navigation or click to paint: first page, sort, filter, every chart."""
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}
    ready = "[data-testid=trials-chart][data-state=ready]"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for _ in range(repeat):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120000)
            results.setdefault("first table page (navigation)", []).append(webui.timed(
                lambda page=page: page.goto(f"http://127.0.0.1:{port}/#/trials"),
                lambda page=page: page.wait_for_selector("tr[data-trial]")))
            page.wait_for_selector(ready)
            results.setdefault("sort by metric (click)", []).append(page.evaluate(
                CLICK_TO_PAINT, ["th[data-sort='metric:default']", "th[data-sort='metric:default'][aria-sort]"]) / 1000)
            results.setdefault("filter FAILED (change)", []).append(page.evaluate(FILTER_TO_PAINT, "FAILED") / 1000)
            for tab in CHARTS[1:] + CHARTS[:1]:
                results.setdefault(f"chart {tab} (click)", []).append(page.evaluate(
                    CLICK_TO_PAINT, [f"[data-testid=chart-tabs] [data-tab={tab}]", ready]) / 1000)
            page.context.close()
        browser.close()
    return {name: statistics.median(values) for name, values in results.items()}


def measure_rest(manager: Manager, port: int) -> dict[str, tuple[float, float, int, int, float]]:
    """Per REST list: (first byte s, total s, bytes, manager RSS growth while answering, manager CPU s)."""
    out = {}
    for route in REST_LISTS:
        before, cpu = manager.rss(), manager.cpu_s()
        manager.peak_rss = before
        first, total, size = get(port, f"/api/v1/nni/{route}")
        time.sleep(0.3)  # one more RSS sample after the answer
        out[route] = (first, total, size, manager.peak_rss - before, manager.cpu_s() - cpu)
    return out


def view_section(figures: Figures, work: Path, n_trials: int, points: int, repeat: int,
                 growth: dict[str, dict[int, dict[str, float]]], reuse: Path | None = None) -> None:
    """The view's figures; with ``reuse``, the experiment is built in that folder once and kept, so
    before/after runs read the same database (it must have been built with the same sizes)."""
    folder = reuse or work / f"view{n_trials}"
    if reuse is not None and (reuse / "bench10k" / "db").is_dir():
        experiment_id = "bench10k"
        print(f"reusing the {n_trials} trials x {points} points in {reuse}", flush=True)
    else:
        experiment_id, built = build_view(folder, n_trials, points)
        print(f"built {n_trials} trials x {points} points through the storage interface in {built:.1f} s", flush=True)
    try:
        view_figures(figures, folder, experiment_id, n_trials, repeat, growth)
        resume_figures(figures, folder, experiment_id, n_trials)
    finally:
        if reuse is None:
            shutil.rmtree(folder, ignore_errors=True)


def view_figures(figures: Figures, folder: Path, experiment_id: str, n_trials: int, repeat: int,
                 growth: dict[str, dict[int, dict[str, float]]]) -> None:
    manager, port, serving, curves = open_view(folder, experiment_id)
    try:
        figures.add("view", f"{n_trials} trials: load, serving the table", serving, "s", "<= 3 s", serving <= 3)
        figures.add("view", f"{n_trials} trials: load, manager CPU (imports included)", manager.serving_cpu_s, "s")
        figures.add("view", f"{n_trials} trials: load, curves in too", curves, "s")
        figures.add("view", "manager RSS after load", manager.rss() / 2**20, "MiB", "<= 500 MiB", manager.rss() <= 500 * 2**20)
        page = measure_page(port, repeat)
        for name, value in page.items():
            target, met = ("< 1 s", value < 1) if name.startswith(("first", "chart")) else ("< 0.5 s", value < 0.5)
            figures.add("view", name, value, "s", target, met)
        for route, (first, total, size, grew, cpu) in measure_rest(manager, port).items():
            target, met = ("<= 3 s", total <= 3) if route == "trial-jobs" else ("", None)
            figures.add("rest", f"GET {route}: first byte", first, "s")
            figures.add("rest", f"GET {route}: whole answer ({size / 2**20:.0f} MiB)", total, "s", target, met)
            figures.add("rest", f"GET {route}: manager CPU", cpu, "s")
            figures.add("rest", f"GET {route}: manager RSS growth", grew / 2**20, "MiB")
        figures.add("view", "manager peak RSS", manager.peak_rss / 2**20, "MiB", "<= 500 MiB",
                    manager.peak_rss <= 500 * 2**20)
        growth["view"][n_trials] = {"rss_mib": manager.rss() / 2**20, "db_mib": folder_size(folder / experiment_id / "db") / 2**20,
                                    "rest_s": get(port, "/api/v1/nni/trial-jobs")[1], "load_s": serving}
    finally:
        manager.close()


def resume_figures(figures: Figures, folder: Path, experiment_id: str, n_trials: int) -> None:
    """Resume a copy of the stored experiment (``nnictl resume``'s code): seconds until it serves,
    until the engine has loaded every trial with its curves and replayed the results to the tuner
    (TPE), and the manager's RSS then."""
    copy = folder.parent / f"{folder.name}-resumed"
    shutil.copytree(folder / experiment_id, copy / experiment_id)
    port = free_port()
    started = time.perf_counter()
    manager = Manager("resume", str(copy), experiment_id, str(port), home=copy)
    try:
        wait_answering(port)
        serving = time.perf_counter() - started
        manager.message()
        ready = time.perf_counter() - started
        figures.add("resume", f"{n_trials} trials: serving", serving, "s", "<= 3 s", serving <= 3)
        figures.add("resume", f"{n_trials} trials: restored, results replayed to TPE", ready, "s", "<= 3 s", ready <= 3)
        figures.add("resume", "manager RSS after resume", manager.rss() / 2**20, "MiB", "<= 500 MiB",
                    manager.rss() <= 500 * 2**20)
    finally:
        manager.close()
        shutil.rmtree(copy, ignore_errors=True)


def view_growth(work: Path, n_trials: int, points: int, growth: dict[str, dict[int, dict[str, float]]]) -> None:
    """The view's load, RSS, database size and REST latency at a smaller size (no browser)."""
    folder = work / f"growth{n_trials}"
    experiment_id, _ = build_view(folder, n_trials, points)
    manager, port, serving, _ = open_view(folder, experiment_id)
    try:
        growth["view"][n_trials] = {"rss_mib": manager.rss() / 2**20, "db_mib": folder_size(folder / experiment_id / "db") / 2**20,
                                    "rest_s": get(port, "/api/v1/nni/trial-jobs")[1], "load_s": serving}
    finally:
        manager.close()
        shutil.rmtree(folder, ignore_errors=True)


# -- live ----------------------------------------------------------------------------------------

class EventCounter:
    """Reads the web UI's server-sent events; remembers the last change id and when it came."""

    def __init__(self, port: int) -> None:
        self.last_id = 0
        self.last_at = 0.0
        self.events = 0
        self._answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/webui/events", timeout=3600)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self._answer:
                line = raw.decode()
                if line.startswith("id: "):
                    self.last_id, self.last_at = int(line[4:]), time.monotonic()
                    self.events += 1
        except (OSError, ValueError, AttributeError):  # the stream closed under the reader (close())
            return

    def close(self) -> None:
        self._answer.close()


def live_section(figures: Figures, work: Path, n_trials: int, concurrency: int,
                 growth: dict[str, dict[int, dict[str, float]]]) -> None:
    folder = work / "live"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "trial.py").write_text(TRIAL)
    port = free_port()
    manager = Manager("live", str(folder), str(port), str(n_trials), str(concurrency), f"{sys.executable} trial.py",
                      home=folder)
    try:
        exp_dir = Path(manager.message()["experiment_dir"])
        wait_answering(port)
        sse = EventCounter(port)
        checkpoints = sorted({c for c in (1000, 10000, 100000, n_trials // 4, n_trials // 2, n_trials) if 0 < c <= n_trials})
        last_cpu, last_done = manager.cpu_s(), 0
        done_message: dict[str, Any] | None = None
        while checkpoints:
            stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/job-statistics").read())
            done = sum(s["trialJobNumber"] for s in stats if s["trialJobStatus"] not in ("WAITING", "RUNNING"))
            if done >= checkpoints[0]:
                cpu = manager.cpu_s()
                growth["live"][checkpoints[0]] = {
                    "cpu_ms_per_trial": 1000 * (cpu - last_cpu) / max(done - last_done, 1),
                    "rss_mib": manager.rss() / 2**20, "db_mib": folder_size(exp_dir / "db") / 2**20,
                    "rest_s": get(port, "/api/v1/nni/trial-jobs")[1]}
                print(f"  live: {done} trials ended: {growth['live'][checkpoints[0]]}", flush=True)
                last_cpu, last_done = cpu, done
                checkpoints.pop(0)
            else:
                time.sleep(1)
        done_message = manager.message()
        time.sleep(2)  # the page's stream settles a burst for 0.2 s
        summary = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/webui/summary").read())
        ends = sorted(t["endTime"] for t in json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs").read()) if t.get("endTime"))
        tenth = max(len(ends) // 10, 2)
        start_rate = (tenth - 1) / max((ends[tenth - 1] - ends[0]) / 1000, 1e-3)
        end_rate = (tenth - 1) / max((ends[-1] - ends[-tenth]) / 1000, 1e-3)
        figures.add("live", f"{n_trials} trials at concurrency {concurrency}: wall", done_message["wall_s"], "s")
        figures.add("live", "trial rate, first tenth", start_rate, "/s")
        figures.add("live", "trial rate, last tenth", end_rate, "/s", ">= 0.8x first", end_rate >= 0.8 * start_rate)
        figures.add("live", "manager peak RSS", manager.peak_rss / 2**20, "MiB", "<= 500 MiB", manager.peak_rss <= 500 * 2**20)
        figures.add("live", "manager CPU per trial (whole run)", 1000 * manager.cpu_s() / n_trials, "ms")
        figures.add("live", f"SSE: last change id seen / revision ({sse.events} events)",
                    f"{sse.last_id}/{summary['revision']}", "", "caught up", sse.last_id >= summary["revision"])
        sse.close()
    finally:
        manager.close()
        shutil.rmtree(folder, ignore_errors=True)


STAGGERED = "sleep $((1 + $$ % 3)).$(($$ % 10))"
"""A trial of 1.0-3.9 s (from its shell's pid): ends spread out as in a real sweep, unlike a wave of
identical trials that all end together."""


def concurrency_section(figures: Figures, work: Path, concurrency: int, waves: int, command: str, label: str,
                        service: dict[str, Any] | None = None, section: str = "concurrency",
                        delay_target: bool = True) -> None:
    """``waves`` x ``concurrency`` trials of ``command`` (local, or on the training service ``service``
    describes): the delay from a slot freeing (a trial's end, as the manager records it) to the next
    trial's start, and how the tuner was asked. The 10 ms target is for slots freeing one at a
    time; ``delay_target=False`` prints the delay without it (a whole wave ending at once)."""
    folder = work / f"{section}-{label}"
    (folder / "code").mkdir(parents=True)
    port = free_port()
    n_trials = concurrency * waves
    extra = [json.dumps(service)] if service is not None else []
    manager = Manager("live", str(folder), str(port), str(n_trials), str(concurrency), command, *extra, home=folder)
    try:
        manager.message()
        done = manager.message()
        jobs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs").read())
    finally:
        manager.close()
        shutil.rmtree(folder, ignore_errors=True)
    starts = sorted(j["startTime"] for j in jobs if j.get("startTime"))
    ends = sorted(j["endTime"] for j in jobs if j.get("endTime"))
    # With concurrency c, the (i+c)-th start is what the i-th end made room for.
    delays = sorted(s - e for s, e in zip(starts[concurrency:], ends, strict=False))
    median, p90 = float(statistics.median(delays)), float(delays[int(0.9 * (len(delays) - 1))])
    batches = done["batches"]
    figures.add(section, f"{label}: {n_trials} trials at {concurrency}: wall", done["wall_s"], "s")
    target, met = ("<= 10 ms", median <= 10) if delay_target else ("", None)
    figures.add(section, f"{label}: median delay, slot free -> trial started", median, "ms", target, met)
    figures.add(section, f"{label}: p90 delay", p90, "ms")
    failed = sum(1 for j in jobs if j.get("status") != "SUCCEEDED")
    figures.add(section, f"{label}: trials that did not succeed", f"{failed}/{len(jobs)}", "", "0", failed == 0)
    figures.add(section, f"{label}: tuner calls / proposals (largest batch)",
                f"{len(batches)}/{sum(batches)} ({max(batches)})", "", "batched", max(batches) > 1)


def spawn_floor(figures: Figures, count: int) -> None:
    """What the machine allows with no manager: ``count`` plain ``/bin/sh -c true`` starts in a row."""
    times = []
    children = []
    for _ in range(count):
        started = time.perf_counter()
        children.append(subprocess.Popen(["/bin/sh", "-c", "true"], stdin=subprocess.DEVNULL, start_new_session=True))
        times.append((time.perf_counter() - started) * 1000)
    for child in children:
        child.wait()
    figures.add("concurrency", f"floor: one bare /bin/sh start (median of {count}, no manager)",
                float(statistics.median(times)), "ms")


RAY_SCRIPT = ROOT / "scripts" / "services" / "ray.sh"
RAY_NETNS = "nni-ray"
RAY_ADDRESS = "127.0.0.1:6379"
RAY_CPUS = 4
"""CPUs of the test cluster (2 nodes x 2): each trial asks for its share, so ``--concurrency`` fit at once."""


def namespace_cpu_s(name: str) -> float:
    """CPU seconds of the processes in network namespace ``name``, with their reaped children's."""
    listed = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in listed:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def ray_script(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(RAY_SCRIPT), action], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAY_PYTHON": sys.executable})


def ray_section(figures: Figures, work: Path, concurrency: int, waves: int) -> None:
    """The concurrency figures on the 2-node test Ray cluster (scripts/services/ray.sh, started here
    when it is down and stopped again after): each trial asks for ``RAY_CPUS / concurrency`` CPUs."""
    if os.geteuid() != 0:
        figures.add("ray", "skipped", "the test cluster needs root (a network namespace)", "")
        return
    started_here = ray_script("status").returncode != 0
    if started_here:
        up = ray_script("start")
        if up.returncode != 0:
            figures.add("ray", "skipped", f"ray.sh start failed: {(up.stdout + up.stderr).strip()[-200:]}", "")
            return
    cpus = int(RAY_CPUS / concurrency * 10**4) / 10**4  # Ray counts resources in units of 1e-4
    service = {"platform": "ray", "address": RAY_ADDRESS, "trialCpuNumber": cpus,
               "workingDirectory": str(work / "ray-nodes")}
    try:
        before = namespace_cpu_s(RAY_NETNS)
        with network_namespace(RAY_NETNS):
            concurrency_section(figures, work, concurrency, waves, STAGGERED, "staggered", service, "ray")
        figures.add("ray", "cluster CPU per trial (driver excluded)",
                    1000 * (namespace_cpu_s(RAY_NETNS) - before) / (concurrency * waves), "ms")
    finally:
        if started_here:
            ray_script("stop")


ASK = """
import json, sys, time
from nni.algorithms.hpo.auto_tuner import AutoTuner
from nni.algorithms.hpo.gp_tuner import GPTuner
from nni.algorithms.hpo.tpe_tuner import TpeTuner
from nni.engine.blas import one_blas_thread
name, pending, space = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
with one_blas_thread():  # as the engine runs every tuner call
    if name == "Auto":  # given the concurrency, as the launcher does from the experiment config
        tuner = AutoTuner(optimize_mode="maximize", trial_concurrency=pending)
    else:
        tuner = {"TPE": TpeTuner, "GP": GPTuner}[name](optimize_mode="maximize")
    tuner.update_search_space(space)
    for i, params in enumerate(tuner.generate_multiple_parameters(list(range(40)))):
        tuner.receive_trial_result(i, params, -abs(params["dropout"] - 0.2))
    started = time.perf_counter()
    tuner.generate_multiple_parameters(list(range(40, 40 + pending)))
    print(json.dumps({"batch": time.perf_counter() - started}), flush=True)
    started = time.perf_counter()
    tuner.generate_parameters(40 + pending)
    print(json.dumps({"one": time.perf_counter() - started}), flush=True)
    if name == "Auto":
        print(json.dumps({"plan": tuner.plan}), flush=True)
"""


def ask_section(figures: Figures, pending: int, limit: float) -> None:
    """TPE, GP and Auto (each in its own process, stopped after ``limit`` s, with one BLAS thread
    as the engine gives tuner calls): seconds to propose ``pending`` trials in one call after 40
    results, then one more with those pending; for Auto also the method it settled on."""
    space = json.dumps({k: v for k, v in SPACE.items() if k != "optimizer"})
    for name in ("TPE", "GP", "Auto"):
        found: dict[str, Any] = {}
        try:
            done = subprocess.run([sys.executable, "-c", ASK, name, str(pending), space], capture_output=True, text=True,
                                  timeout=limit, env={**os.environ, "PYTHONPATH": str(ROOT)})
            output = done.stdout
        except subprocess.TimeoutExpired as error:
            output = error.stdout.decode() if isinstance(error.stdout, bytes) else error.stdout or ""
        for line in output.splitlines():
            found.update(json.loads(line))
        for key, label in (("batch", f"{pending} proposals in one call (40 results)"), ("one", f"one more with {pending} pending")):
            value = found.get(key)
            figures.add("ask", f"{name}: {label}", value if value is not None else f"> {limit:.0f} s (stopped)", "s")
        if "plan" in found:
            figures.add("ask", f"{name}: method with {pending} at once", found["plan"], "")


# -- peers ---------------------------------------------------------------------------------------

OPTUNA_SERVER = """
import sys, optuna, optuna_dashboard
from optuna.distributions import FloatDistribution, IntDistribution, CategoricalDistribution
n, port = int(sys.argv[1]), int(sys.argv[2])
optuna.logging.set_verbosity(optuna.logging.WARNING)
storage = optuna.storages.InMemoryStorage()
study = optuna.create_study(storage=storage, study_name="scale", direction="maximize")
dists = {"lr": FloatDistribution(1e-5, 0.1, log=True), "batch_size": CategoricalDistribution([16, 32, 64, 128]),
         "layers": IntDistribution(1, 7), "dropout": FloatDistribution(0, 0.5)}
sampler = optuna.samplers.RandomSampler(seed=0)
trials = []
import random
rng = random.Random(0)
for i in range(n):
    params = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": rng.choice([16, 32, 64, 128]),
              "layers": rng.randint(1, 7), "dropout": rng.uniform(0, 0.5)}
    trials.append(optuna.trial.create_trial(params=params, distributions=dists, value=rng.random()))
study.add_trials(trials)
print("ready", flush=True)
optuna_dashboard.run_server(storage, host="127.0.0.1", port=port)
"""


def optuna_section(figures: Figures, n_trials: int, limit: float) -> None:
    """optuna-dashboard (its own process, an in-memory study: the fastest storage it has) in Chromium."""
    from playwright.sync_api import sync_playwright

    if importlib.util.find_spec("optuna_dashboard") is None:
        figures.add("optuna-dash", "skipped", "optuna-dashboard is not installed: pip install -e '.[bench]'", "")
        return
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-c", OPTUNA_SERVER, str(n_trials), str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            figures.add("optuna-dash", "skipped", f"its server exited (status {server.wait()}) before the study was built", "")
            return
        print(f"optuna study of {n_trials} trials built in {time.perf_counter() - started:.1f} s", flush=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=600).read()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(limit * 1000)
            for name, url, ready in [
                    ("history chart (navigation)", "/dashboard/studies/0", "#plot-history .scatterlayer .trace"),
                    ("trial list (navigation)", "/dashboard/studies/0/trials", "text=(trial_id=0)")]:
                try:
                    value = webui.timed(lambda url=url: page.goto(f"http://127.0.0.1:{port}{url}"),
                                        lambda ready=ready: page.wait_for_selector(ready))
                    figures.add("optuna-dash", f"{n_trials} trials: {name}", value, "s")
                except Exception as error:  # too slow, or its page layout differs: say which
                    figures.add("optuna-dash", f"{n_trials} trials: {name}", f"not painted ({type(error).__name__})", "",
                                f"stopped after {limit:.0f} s")
            browser.close()
    finally:
        server.kill()
        server.wait()


def nni30_section(figures: Figures, n_trials: int, points: int) -> None:
    # NNI 3.0's nnictl inherits this environment: a PYTHONPATH naming this package would shadow its own nni.
    os.environ.pop("PYTHONPATH", None)
    theirs = webui.measure_nni30(synthetic_trials(n_trials, points), 1)
    if isinstance(theirs, str):
        figures.add("nni 3.0", "skipped", theirs, "")
        return
    for name, value in theirs.items():
        figures.add("nni 3.0", f"{n_trials} trials: {name}", value, "s")


# -- growth --------------------------------------------------------------------------------------

def print_growth(growth: dict[str, dict[int, dict[str, float]]]) -> None:
    print("\ngrowth (live: a running experiment as it passes each count; view: a stored one of that size)")
    print(f"{'source':6} {'trials':>8} {'CPU ms/trial':>13} {'RSS MiB':>9} {'DB MiB':>8} {'trial-jobs s':>13} {'load s':>8}")
    for source, points in growth.items():
        for n, row in sorted(points.items()):
            cpu = row.get("cpu_ms_per_trial")
            load = row.get("load_s")
            print(f"{source:6} {n:8d} {'-' if cpu is None else f'{cpu:.2f}':>13} {row['rss_mib']:9.0f} "
                  f"{row['db_mib']:8.1f} {row['rest_s']:13.3f} {'-' if load is None else f'{load:.2f}':>8}")


def plot_growth(growth: dict[str, dict[int, dict[str, float]]], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print(f"matplotlib is not installed: no {path}")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [("cpu_ms_per_trial", "manager CPU per trial (ms)"), ("rss_mib", "manager RSS (MiB)"),
              ("db_mib", "database size (MiB)"), ("rest_s", "GET trial-jobs (s)")]
    for axis, (key, title) in zip(axes, panels, strict=True):
        for source, points in growth.items():
            xs = [n for n, row in sorted(points.items()) if key in row]
            if xs:
                axis.plot(xs, [points[n][key] for n in xs], marker="o", label=source)
        axis.set_xscale("log")
        axis.set_ylim(bottom=0)
        axis.set_title(title)
        axis.set_xlabel("trials")
        axis.grid(True, alpha=0.3)
        axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"growth plot saved to {path}")


SECTIONS = ("view", "live", "concurrency", "ray", "ask", "peers")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="under 15 minutes on 2 cores: 2,000 live trials, 2 intermediate points, one browser pass")
    parser.add_argument("--trials", type=int, default=100000, help="trials of the viewed experiment and the Optuna study")
    parser.add_argument("--points", type=int, default=None, help="intermediate results per viewed trial (10; quick 2)")
    parser.add_argument("--live", type=int, default=None, help="trials of the live experiment (100,000; quick 2,000)")
    parser.add_argument("--live-concurrency", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=None, help="browser passes (3; quick 1)")
    parser.add_argument("--skip-peers", action="store_true", help="no optuna-dashboard, no NNI 3.0")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "scale-growth.png")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if not only <= set(SECTIONS):
        parser.error(f"--only: unknown section(s) {', '.join(sorted(only - set(SECTIONS)))}")
    points = args.points if args.points is not None else 2 if args.quick else 10
    live = args.live if args.live is not None else 2000 if args.quick else 100000
    repeat = args.repeat if args.repeat is not None else 1 if args.quick else 3
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    load = os.getloadavg()
    print(f"scale benchmark: {args.trials} viewed trials x {points} points, {live} live trials, "
          f"{args.concurrency} concurrent; {os.cpu_count()} CPUs, load average {load[0]:.1f} at the start", flush=True)
    started = time.perf_counter()
    figures = Figures()
    growth: dict[str, dict[int, dict[str, float]]] = {"live": {}, "view": {}}
    work = Path(tempfile.mkdtemp(prefix="nni-scale-"))
    try:
        if "view" in only:
            view_section(figures, work, args.trials, points, repeat, growth)
            for n in (1000, 10000):
                if n < args.trials:
                    view_growth(work, n, points, growth)
        if "live" in only:
            live_section(figures, work, live, args.live_concurrency, growth)
        if "concurrency" in only:
            spawn_floor(figures, args.concurrency)
            concurrency_section(figures, work, args.concurrency, 3, STAGGERED, "staggered")
            concurrency_section(figures, work, args.concurrency, 3, "sleep 2", "burst", delay_target=False)
        if "ray" in only:
            ray_section(figures, work, args.concurrency, 3)
        if "ask" in only:
            ask_section(figures, args.concurrency, 90 if args.quick else 600)
        if "peers" in only and not args.skip_peers:
            optuna_section(figures, args.trials, 120 if args.quick else 600)
            nni30_section(figures, 10000, points)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures.print_table()
    if {"view", "live"} <= only:  # the growth curves need both; a partial run leaves the PNG alone
        print_growth(growth)
        plot_growth(growth, args.png)
    print(f"\nwhole run {time.perf_counter() - started:.0f} s; load average at the end {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (shared machine: wall times include waiting for a CPU)")


if __name__ == "__main__":
    main()
