"""`serve.py`: answers equal to `predict.py`'s, every bad request a 4xx naming the field,
the token guard, batching, and an ONNX export served beside the checkpoint."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fivestep.errors import UserError
from fivestep.predict import predict
from fivestep.serve import check_access, is_loopback, load_predictor, onnx_argument, read_token
from fivestep.serving.app import Limits, build_app
from fivestep.serving.predictors import CheckpointPredictor

from ..trained import table_frame

TOKEN = "t0ken-for-the-tests-only-0123456789"
LIMITS = Limits(max_rows=50, max_body_bytes=20_000, max_batch_rows=64, max_wait_ms=1.0)


def _rows(n: int = 25) -> pd.DataFrame:
    rows = table_frame(rows=n, seed=7).drop(columns="label")
    rows.loc[3, "color"] = "purple"  # a level never seen in training
    rows.loc[4, "a"] = np.nan  # a missing number: imputed with the training median
    return rows


def _json_rows(rows: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in rows.to_dict(orient="records")]


@pytest.fixture(scope="module")
def predictor(table_run):
    from omegaconf import DictConfig

    return CheckpointPredictor(str(table_run / "checkpoints" / "last.ckpt"), DictConfig({}))


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(build_app(predictor, LIMITS)) as c:
        yield c


def test_answers_equal_what_predict_py_writes(table_run, client, make_cfg, tmp_path):
    rows = _rows()
    rows.to_csv(tmp_path / "rows.csv", index=False)
    cfg = make_cfg(f"ckpt_path={table_run / 'checkpoints' / 'last.ckpt'}",
                   f"input={tmp_path / 'rows.csv'}", f"output={tmp_path / 'out.csv'}",
                   config_name="predict")
    written = pd.read_csv(predict(cfg))

    reply = client.post("/predict", json={"rows": _json_rows(rows)})
    assert reply.status_code == 200, reply.text
    answers = reply.json()["predictions"]
    assert len(answers) == len(rows)
    assert [a["prediction"] for a in answers] == written["prediction"].tolist()
    for name in ("no", "yes"):
        served = np.array([a["probabilities"][name] for a in answers], dtype=np.float32)
        # the CSV holds the float32 values in their shortest form: equal, bit for bit
        np.testing.assert_array_equal(served, written[f"probability_{name}"].to_numpy(np.float32))
    assert answers[3]["unseen"] == {"color": "purple"}
    assert [i for i, a in enumerate(answers) if a["unseen"]] == [3]

    # one row at a time, as batches of other requests' rows, the same answers
    for i in (0, 3, 4):
        one = client.post("/predict", json={"rows": [_json_rows(rows)[i]]}).json()
        assert one["predictions"][0]["prediction"] == written["prediction"][i]
        assert one["predictions"][0]["probabilities"]["yes"] == pytest.approx(
            written["probability_yes"][i], abs=1e-6)


def test_metadata_and_health(client, table_run):
    meta = client.get("/metadata").json()
    assert meta["task"] == "binary" and meta["label_names"] == ["no", "yes"]
    assert meta["columns"] == [
        {"name": "a", "type": "number"}, {"name": "b", "type": "number"},
        {"name": "color", "type": "category", "categories": ["blue", "green", "red"]},
    ]
    assert meta["checkpoint"] == str((table_run / "checkpoints" / "last.ckpt").resolve())
    assert meta["config"]["data"]["target"] == "label"
    assert meta["limits"]["max_rows"] == LIMITS.max_rows
    assert client.get("/health").json() == {"live": True, "ready": True}


GOOD = {"a": 0.5, "b": -1.0, "color": "red"}


def _with(**changes) -> dict:
    row = {**GOOD, **changes}
    return {"rows": [{k: v for k, v in row.items() if v is not ...}]}


# (what, method, path, body bytes or JSON, headers, status, field)
BAD = [
    ("malformed JSON", "POST", "/predict", b'{"rows": [', None, 400, "body"),
    ("not UTF-8", "POST", "/predict", b'{"rows": ["\xff"]}', None, 400, "body"),
    ("NaN literal", "POST", "/predict", b'{"rows": [{"a": NaN, "b": 1, "color": "red"}]}',
     None, 400, "body"),
    ("Infinity literal", "POST", "/predict",
     b'{"rows": [{"a": 1, "b": -Infinity, "color": "red"}]}', None, 400, "body"),
    ("a number too large", "POST", "/predict",
     b'{"rows": [{"a": 1e999, "b": 1, "color": "red"}]}', None, 422, "rows[0].a"),
    ("a list, not an object", "POST", "/predict", [GOOD], None, 422, "body"),
    ("no rows key", "POST", "/predict", {"row": [GOOD]}, None, 422, "rows"),
    ("an extra key", "POST", "/predict", {"rows": [GOOD], "limit": 3}, None, 422, "limit"),
    ("rows not a list", "POST", "/predict", {"rows": GOOD}, None, 422, "rows"),
    ("empty list", "POST", "/predict", {"rows": []}, None, 422, "rows"),
    ("a row not an object", "POST", "/predict", {"rows": [GOOD, [1, 2, 3]]}, None, 422,
     "rows[1]"),
    ("missing column", "POST", "/predict", _with(b=...), None, 422, "rows[0].b"),
    ("misspelled column", "POST", "/predict", _with(color=..., colour="red"), None, 422,
     "rows[0].color"),
    ("text for a number", "POST", "/predict", _with(a="12.5 kg"), None, 422, "rows[0].a"),
    ("numeric text for a number", "POST", "/predict", _with(a="12.5"), None, 422, "rows[0].a"),
    ("an object for a number", "POST", "/predict", _with(b={"v": 1}), None, 422, "rows[0].b"),
    ("a list for a category", "POST", "/predict", _with(color=["red"]), None, 422,
     "rows[0].color"),
    ("a whole column missing", "POST", "/predict",
     {"rows": [{**GOOD, "a": None}, {**GOOD, "a": None}]}, None, 422, None),
    ("too many rows", "POST", "/predict", {"rows": [GOOD] * 51}, None, 413, "rows"),
    ("body too large", "POST", "/predict", b'{"rows": [' + b" " * 20_001 + b"]}", None, 413,
     "body"),
    ("bad Content-Length", "POST", "/predict", b"{}", {"content-length": "x"}, 400,
     "Content-Length"),
    ("form content type", "POST", "/predict", b"rows=1",
     {"content-type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
    ("no content type", "POST", "/predict", b'{"rows": []}', {"content-type": ""}, 415,
     "Content-Type"),
    ("unknown path", "POST", "/predictions", {"rows": [GOOD]}, None, 404, "path"),
    ("GET on predict", "GET", "/predict", None, None, 405, "method"),
    ("DELETE on metadata", "DELETE", "/metadata", None, None, 405, "method"),
]


def _send(client: TestClient, method: str, path: str, body, headers):
    if body is None:
        return client.request(method, path, headers=headers)
    if isinstance(body, bytes):
        sent = {"content-type": "application/json", **(headers or {})}
        return client.request(method, path, content=body, headers=sent)
    return client.request(method, path, json=body, headers=headers)


def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_goes_on(client):
    assert len(BAD) >= 15
    wrong = []
    for what, method, path, body, headers, status, field in BAD:
        reply = _send(client, method, path, body, headers)
        error = reply.json().get("error", {})
        if (reply.status_code, error.get("field")) != (status, field) or not error.get("fix"):
            wrong.append(f"{what}: {reply.status_code} {reply.text[:200]}")
        assert 400 <= reply.status_code < 500, what
        assert "Traceback" not in reply.text
    assert not wrong, "\n".join(wrong)
    # the answers say what to do
    missing = _send(client, "POST", "/predict", _with(color=..., colour="red"), None).json()
    assert "'colour': a misspelling of 'color'?" in missing["error"]["message"]
    text = _send(client, "POST", "/predict", _with(a="12.5 kg"), None).json()
    assert "numeric" in text["error"]["message"] and "JSON number" in text["error"]["fix"]
    # and it goes on serving, unseen categories answered and flagged, extra keys ignored
    reply = client.post("/predict", json={"rows": [GOOD, {**GOOD, "color": "teal", "id": 7}]})
    assert reply.status_code == 200
    assert [a["unseen"] for a in reply.json()["predictions"]] == [{}, {"color": "teal"}]
    assert reply.json()["ignored_columns"] == ["id"]


def _parsed(*rows: dict, schema):
    from fivestep.serving.rows import parse_rows

    return parse_rows(json.dumps({"rows": list(rows)}).encode(), schema, 100)


def _batched(predictor, requests: list, wait_ms: float, max_rows: int = 64,
             calls: list | None = None) -> tuple[list, int]:
    """The answers of `requests` (Rows) submitted together to one Batcher; its batch count."""
    import asyncio

    from fivestep.serving.app import answerer
    from fivestep.serving.batcher import Batcher

    answer = answerer(predictor)

    def counted(rows):
        if calls is not None:
            calls.append(rows.n)
        return answer(rows)

    async def together() -> tuple[list, int]:
        batcher = Batcher(counted, max_batch_rows=max_rows, max_wait_ms=wait_ms)
        await batcher.start()
        answers = await asyncio.gather(*(batcher.submit(r) for r in requests),
                                       return_exceptions=True)
        await batcher.stop()
        return answers, batcher.batches

    return asyncio.run(together())


def test_a_whole_missing_column_in_a_batch_of_single_rows_is_answered_per_request(predictor):
    """Single rows with a gap, batched together, are each imputed as predict.py would;
    two rows with the gap in one request are refused, as predict.py refuses such a file."""
    gap = {**GOOD, "a": None}
    requests = [_parsed(gap, schema=predictor.schema) for _ in range(3)]
    requests.append(_parsed(gap, gap, schema=predictor.schema))
    answers, batches = _batched(predictor, requests, wait_ms=200)
    alone = predictor.predict(pd.DataFrame([{**GOOD, "a": np.nan}]))
    assert batches == 1
    for answer in answers[:3]:
        assert answer[0]["probabilities"]["yes"] == alone["probability_yes"].tolist()[0]
    assert isinstance(answers[3], UserError) and "entirely missing" in str(answers[3])


def test_requests_arriving_together_share_one_batch(predictor):
    calls: list[int] = []
    three = _parsed(GOOD, GOOD, GOOD, schema=predictor.schema)
    answers, batches = _batched(predictor, [three] * 5, wait_ms=200, max_rows=10, calls=calls)
    assert calls == [9, 6]  # 3 requests of 3 rows fit under 10; the 4th starts the next
    assert batches == 2 and all(len(a) == 3 for a in answers)
    expected = predictor.predict(pd.DataFrame([GOOD] * 3))["probability_yes"].tolist()
    # one batch of 9 rows against predict's 3: float32 products of other shapes may
    # round differently in the last bits, nothing more
    for a in answers:
        assert [r["probabilities"]["yes"] for r in a] == pytest.approx(expected, abs=1e-6)


def test_the_token_guards_every_endpoint_but_health(predictor):
    with TestClient(build_app(predictor, LIMITS, token=TOKEN)) as c:
        body = {"rows": [GOOD]}
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                        {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
            reply = c.post("/predict", json=body, headers=headers)
            assert reply.status_code == 401, headers
            assert reply.json()["error"]["field"] == "Authorization"
            assert reply.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in reply.text
        assert c.get("/metadata").status_code == 401
        assert c.get("/nowhere").status_code == 401  # no path is told apart without it
        assert c.get("/health").status_code == 200
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert c.post("/predict", json=body, headers=good).status_code == 200
        assert c.get("/metadata", headers=good).status_code == 200


def test_other_addresses_need_a_token(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"token_env": "FIVESTEP_TEST_TOKEN", "token_file": None})
    monkeypatch.delenv("FIVESTEP_TEST_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_access("127.0.0.1", None, cfg)  # this machine only: no token needed
    with pytest.raises(UserError, match=r"host=0\.0\.0\.0 .* needs a token: set "
                       r"FIVESTEP_TEST_TOKEN=<token> or token_file"):
        check_access("0.0.0.0", read_token(cfg), cfg)

    monkeypatch.setenv("FIVESTEP_TEST_TOKEN", "short")
    with pytest.raises(UserError, match="has 5 characters; use at least 16") as err:
        read_token(cfg)
    assert "short" not in str(err.value)  # never shown
    monkeypatch.setenv("FIVESTEP_TEST_TOKEN", TOKEN)
    assert read_token(cfg) == TOKEN
    (tmp_path / "token").write_text(TOKEN[::-1] + "\n")
    from_file = OmegaConf.merge(cfg, {"token_file": str(tmp_path / "token")})
    assert read_token(from_file) == TOKEN[::-1]  # the file wins
    with pytest.raises(UserError, match="cannot be read"):
        read_token(OmegaConf.merge(cfg, {"token_file": str(tmp_path / "absent")}))


def test_serve_py_refuses_an_open_address_without_a_token_in_one_line(
    table_run, make_cfg, capsys, monkeypatch
):
    from fivestep.errors import run
    from fivestep.serve import serve

    monkeypatch.delenv("FIVESTEP_SERVE_TOKEN", raising=False)
    cfg = make_cfg(f"ckpt_path={table_run / 'checkpoints' / 'last.ckpt'}", "host=0.0.0.0",
                   config_name="serve")
    with pytest.raises(SystemExit) as stop:
        run(serve, cfg)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: host=0.0.0.0 accepts connections")


def test_model_onnx_on_the_command_line_is_the_onnx_setting():
    assert onnx_argument(["model=out/m.ONNX", "port=0", "model.net.hidden1=4"]) == [
        "onnx=out/m.ONNX", "port=0", "model.net.hidden1=4"]


@pytest.mark.parametrize(("overrides", "message"), [
    ([], "ckpt_path is required"),
    (["onnx=net.pt"], "takes an .onnx file"),
    (["onnx=absent.onnx"], "no such file"),
    (["onnx=absent.onnx", "ckpt_path=x.ckpt"], "not both"),
    (["ckpt_path=absent.ckpt"], "no such file"),
])
@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_bad_model_arguments_are_one_clear_error(make_cfg, overrides, message):
    cfg = make_cfg(*overrides, config_name="serve")
    with pytest.raises(UserError, match=message):
        load_predictor(cfg)


@pytest.mark.slow  # the ONNX export alone takes ~10 s
def test_an_onnx_export_is_served_with_the_checkpoints_answers(table_run, client, make_cfg,
                                                                 tmp_path):
    from fivestep.export import export
    from fivestep.serving.predictors import OnnxPredictor

    cfg = make_cfg(f"ckpt_path={table_run / 'checkpoints' / 'last.ckpt'}", "format=onnx",
                   f"output={tmp_path / 'model.onnx'}", config_name="export")
    onnx = OnnxPredictor(str(export(cfg)))
    body = {"rows": _json_rows(_rows())}
    with TestClient(build_app(onnx, LIMITS)) as served:
        reply = served.post("/predict", json=body).json()
        meta = served.get("/metadata").json()
    expected = client.post("/predict", json=body).json()
    assert [a["prediction"] for a in reply["predictions"]] == [
        a["prediction"] for a in expected["predictions"]]
    np.testing.assert_allclose([a["probabilities"]["yes"] for a in reply["predictions"]],
                               [a["probabilities"]["yes"] for a in expected["predictions"]],
                               atol=1e-5)
    assert [a["unseen"] for a in reply["predictions"]] == [
        a["unseen"] for a in expected["predictions"]]
    assert meta["format"] == "onnx" and meta["columns"] == client.get("/metadata").json()[
        "columns"]
