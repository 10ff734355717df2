"""NNI's REST lists (trial-jobs, metric-data, export-data) stream as JSON: the same document as one
rendered whole, a few hundred items per chunk, never the whole list encoded at once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.responses import JSONResponse
from stored import serve_view, write_experiment

from nni.engine.view import ViewEngine
from nni.server.rest import json_array_chunks
from nni.server.serialize import wire_export_row, wire_metric, wire_trial


@pytest.mark.parametrize("count", [0, 1, 2, 499, 500, 501, 1234])
def test_chunks_join_to_the_document_json_response_renders(count: int) -> None:
    items = [{"i": i, "text": f"é{i}", "list": [i, None]} for i in range(count)]
    streamed = b"".join(json_array_chunks(items, lambda item: item))
    assert streamed == JSONResponse(items).body
    assert json.loads(streamed) == items


def test_chunks_are_encoded_as_they_are_read() -> None:
    pulled = []

    def items():
        for i in range(2000):
            pulled.append(i)
            yield i

    chunks = json_array_chunks(items(), lambda i: {"i": i})
    assert next(chunks) == b"["
    first = next(chunks)
    assert len(pulled) == 500 and json.loads(b"[" + first + b"]")[-1] == {"i": 499}
    assert len(list(chunks)) == 4  # three more chunks of 500 and the closing bracket


def test_a_non_finite_value_is_refused_like_json_response() -> None:
    with pytest.raises(ValueError):
        b"".join(json_array_chunks([float("nan")], lambda v: v))


@pytest.mark.parametrize("count", [0, 1, 3000])
def test_the_routes_answer_what_the_records_say(tmp_path: Path, free_port: int, count: int) -> None:
    write_experiment(tmp_path, count, points=2)
    view = ViewEngine("stored", tmp_path / "stored")
    view.wait_for_curves()
    trials = list(view.trials.values())
    view.storage.close()
    base = f"http://127.0.0.1:{free_port}/api/v1/nni"
    with serve_view(tmp_path, free_port):
        answer = httpx.get(f"{base}/trial-jobs", timeout=60)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == [wire_trial(t) for t in trials]
        if count > 500:
            assert answer.headers.get("transfer-encoding") == "chunked"
        assert httpx.get(f"{base}/trial-jobs?status=FAILED", timeout=60).json() == \
            [wire_trial(t) for t in trials if t.status.value == "FAILED"]
        metrics = httpx.get(f"{base}/metric-data", timeout=60).json()
        assert len(metrics) == 3 * count
        assert sorted(map(json.dumps, metrics)) == sorted(
            json.dumps(wire_metric(m)) for t in trials for m in [*t.intermediate, t.final] if m is not None)
        finals = httpx.get(f"{base}/metric-data?type=FINAL", timeout=60).json()
        assert [m["type"] for m in finals] == ["FINAL"] * count
        assert httpx.get(f"{base}/export-data", timeout=60).json() == \
            [wire_export_row(t) for t in trials if t.status.value == "SUCCEEDED"]
        assert httpx.get(f"{base}/metric-data?type=BEST", timeout=60).status_code == 400
