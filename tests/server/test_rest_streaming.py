"""NNI's REST lists (trial-jobs, metric-data, export-data) stream as JSON: the same document as one
rendered whole, a few hundred items per chunk, never the whole list encoded at once."""

from __future__ import annotations

import json
import sqlite3
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


def test_an_item_that_cannot_be_encoded_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # JSONResponse refuses NaN and bytes; a streamed list has sent its 200 already, so it goes on without them.
    items = [*range(700), float("nan"), b"raw", *range(700, 1000)]
    streamed = b"".join(json_array_chunks(items, lambda v: v))
    assert json.loads(streamed) == list(range(1000))
    assert caplog.text.count("left an item out of a streamed list") == 2
    assert json.loads(b"".join(json_array_chunks([float("nan")], lambda v: v))) == []


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


def test_metric_data_sends_the_stored_text_and_leaves_a_damaged_row_out(tmp_path: Path, free_port: int) -> None:
    write_experiment(tmp_path, 3, points=3)
    with sqlite3.connect(tmp_path / "stored" / "db" / "nni.sqlite") as db:
        rows = db.execute("SELECT seq FROM metrics WHERE type = 'PERIODICAL' ORDER BY seq").fetchall()
        # 1.50 re-encoded would be 1.5: the answer shows the text went out as stored.
        db.execute("UPDATE metrics SET data = '{\"default\": 1.50}' WHERE seq = ?", rows[0])
        db.execute("UPDATE metrics SET data = '{\"default\": NaN, \"loss\": Infinity}' WHERE seq = ?", rows[1])
        # Not a trial's last result (that one the view's table decodes as it loads).
        db.execute("UPDATE metrics SET data = '{broken' WHERE seq = ?", rows[3])
        db.execute("UPDATE metrics SET data = X'7B7D' WHERE seq = ?", rows[4])  # a blob, not text
    with serve_view(tmp_path, free_port):
        answer = httpx.get(f"http://127.0.0.1:{free_port}/api/v1/nni/metric-data", timeout=60)
    assert answer.status_code == 200
    sent = [json.loads(m["data"]) for m in answer.json()]
    assert len(sent) == 3 * 4 - 2
    assert sent[:2] == ['{"default": 1.50}', '{"default": NaN, "loss": Infinity}']
