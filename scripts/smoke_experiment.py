"""One small experiment end to end (CI runs it on Python 3.10 and 3.13): 6 real trials, TPE."""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

from nni.experiment import Experiment


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "trial.py").write_text(textwrap.dedent("""
            import nni
            p = nni.get_next_parameter()
            for step in range(3):
                nni.report_intermediate_result(p["x"] * step)
            nni.report_final_result((p["x"] - 0.3) ** 2 + p["k"])
        """))
        experiment = Experiment("local")
        experiment.config.trial_command = f"{sys.executable} trial.py"
        experiment.config.trial_code_directory = code
        experiment.config.experiment_working_directory = Path(tmp) / "experiments"
        experiment.config.search_space = {"x": {"_type": "uniform", "_value": [0, 1]},
                                          "k": {"_type": "choice", "_value": [0, 1, 2]}}
        experiment.config.tuner.name = "TPE"
        experiment.config.max_trial_number = 6
        experiment.config.trial_concurrency = 2
        port = 18000 + sys.version_info.minor
        ok = experiment.run(port)
        trials = experiment.list_trial_jobs()
        experiment.stop()
        statuses = sorted(t.status for t in trials)
        print(f"Python {sys.version.split()[0]}: run() -> {ok}, trials: {statuses}")
        return 0 if ok and statuses == ["SUCCEEDED"] * 6 else 1


if __name__ == "__main__":
    sys.exit(main())
