"""Serves NNI 3.0's own TPE and GP tuners over stdin/stdout; run by benchmarks/tuners.py in NNI 3.0's venv.

One JSON object a line in, one a line out, so the benchmark evaluates every problem itself (NNI 3.0's
virtualenv has neither cocoex nor this repository's problems) and one process serves many runs:

    {"op": "start", "tuner": "tpe" | "gp", "space": {...}, "seed": 0}   -> {"ok": true}
    {"op": "import", "data": [{"parameter": {...}, "value": 1.0}, ...]}  -> {"ok": true}
    {"op": "ask", "id": 3}                                               -> {"params": {...}, "seconds": 0.01}
    {"op": "tell", "id": 3, "params": {...}, "value": 1.0}               -> {"ok": true}

Errors answer {"error": "..."}. Run with ``python -P`` so this repository's ``nni`` is not on sys.path.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
import traceback
from typing import Any

import numpy as np

logging.disable(logging.CRITICAL)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _make(kind: str, seed: int) -> Any:
    random.seed(seed)
    np.random.seed(seed)
    if kind == "tpe":
        from nni.algorithms.hpo.tpe_tuner import TpeTuner

        return TpeTuner(optimize_mode="minimize", seed=seed)
    if kind == "gp":
        from nni.algorithms.hpo.gp_tuner import GPTuner

        return GPTuner(optimize_mode="minimize")
    raise ValueError(f"unknown NNI 3.0 tuner {kind!r}")


def _handle(request: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "start":
        state["tuner"] = _make(request["tuner"], int(request["seed"]))
        state["tuner"].update_search_space(request["space"])
        return {"ok": True}
    tuner = state["tuner"]
    if op == "import":
        tuner.import_data(request["data"])
        return {"ok": True}
    if op == "ask":
        start = time.perf_counter()
        params = tuner.generate_parameters(request["id"])
        return {"params": params, "seconds": time.perf_counter() - start}
    if op == "tell":
        tuner.receive_trial_result(request["id"], request["params"], request["value"])
        return {"ok": True}
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    np.seterr(all="ignore")
    state: dict[str, Any] = {}
    for line in sys.stdin:
        try:
            reply = _handle(json.loads(line), state)
        except Exception as error:  # noqa: BLE001 - every failure goes back to the benchmark as text
            reply = {"error": f"{error!r}\n{traceback.format_exc()[-1500:]}"}
        sys.stdout.write(json.dumps(reply, default=_plain) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
