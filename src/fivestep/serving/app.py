"""The HTTP application: `POST /predict`, `GET /metadata`, `GET /health`, and every refusal.

FastAPI (on Starlette) with the request body read by hand: the size limit is enforced
while the body streams in (`Content-Length` first, then the bytes actually read), the
content type is checked before that, and the JSON is checked by
`fivestep.serving.rows`, so that each fault gets the project's 4xx body naming the
field and the fix (`fivestep.serving.bad_request`) instead of a framework's default.
An unknown path (404) or method (405) gets the same shape; an unexpected failure is
logged with its traceback and answered 500 without one.

With a token, every path but `/health` (liveness probes carry no secrets) needs
`Authorization: Bearer <token>`, compared with `hmac.compare_digest`; the token is
never logged or echoed.
"""

import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from fivestep.errors import UserError
from fivestep.serving.bad_request import ENDPOINTS, BadRequest, from_user_error
from fivestep.serving.batcher import Batcher
from fivestep.serving.predictors import Predictor
from fivestep.serving.rows import Rows, parse_rows

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class Limits:
    """What one request may send and how requests are batched (configs/serve.yaml)."""

    max_rows: int = 10_000
    max_body_bytes: int = 4 * 2**20
    max_batch_rows: int = 1024
    max_wait_ms: float = 1.0


class TokenGuard:
    """ASGI middleware: 401 for a request without the right bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                given = given.strip() if scheme.lower() == b"bearer" else b""
                break
        if given and hmac.compare_digest(given, self.token):
            return await self.app(scope, receive, send)
        refusal = BadRequest(
            401, "Authorization",
            "this server needs a bearer token" if not given else "the token is not this server's",
            "send the header 'Authorization: Bearer <token>' with the token the server was "
            "started with", headers={"WWW-Authenticate": "Bearer"})
        await refusal.response()(scope, receive, send)


async def _body(request: Request, limit: int) -> bytes:
    kind = request.headers.get("content-type", "")
    if kind.split(";")[0].strip().lower() != "application/json":
        raise BadRequest(415, "Content-Type", f"the content type is {kind or 'not given'!r}",
                         "send the rows as JSON with 'Content-Type: application/json'")
    declared = request.headers.get("content-length")
    too_big = BadRequest(413, "body", f"the body is larger than the limit of {limit} bytes "
                         "(max_body_bytes)", "send fewer rows per request")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "Content-Length", f"Content-Length is {declared!r}",
                             "send the body's length in bytes, or leave the header out")
        if int(declared) > limit:
            raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def answerer(predictor: Predictor) -> Callable[[Rows], list[dict[str, Any]]]:
    """Rows -> per row `{"prediction", "probabilities"?, "unseen"}`, from the predictor's
    table (`predict.py`'s columns), converted to Python values once per batch."""
    names = predictor.label_names

    def answer(rows: Rows) -> list[dict[str, Any]]:
        table = predictor.predict(rows.frame())
        predictions = table["prediction"].tolist()
        if not names:
            return [{"prediction": p, "unseen": u}
                    for p, u in zip(predictions, rows.unseen, strict=True)]
        probs = table[[f"probability_{n}" for n in names]].to_numpy().tolist()
        return [{"prediction": p, "probabilities": dict(zip(names, q, strict=True)),
                 "unseen": u} for p, q, u in zip(predictions, probs, rows.unseen, strict=True)]

    return answer


def build_app(predictor: Predictor, limits: Limits, token: str | None = None) -> ASGIApp:
    """The application serving `predictor`; with `token`, guarded by it."""
    batcher = Batcher(answerer(predictor), limits.max_batch_rows, limits.max_wait_ms)
    metadata = json.dumps({
        "task": predictor.task,
        "label_names": predictor.label_names,
        **predictor.schema.describe(),
        **predictor.metadata(),
        "limits": vars(limits),
        "endpoints": ENDPOINTS,
    }).encode()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher

    @app.exception_handler(BadRequest)
    async def refused(request: Request, err: BadRequest) -> JSONResponse:
        return err.response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        path = request.url.path
        if err.status_code == 404:
            refusal = BadRequest(404, "path", f"no endpoint at {path!r}",
                                 f"the endpoints are {ENDPOINTS}")
        elif err.status_code == 405:
            refusal = BadRequest(405, "method", f"{request.method} is not allowed on {path}",
                                 f"the endpoints are {ENDPOINTS}", headers=err.headers)
        else:
            refusal = BadRequest(err.status_code, None, str(err.detail), "see the message")
        return refusal.response()

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        return JSONResponse({"error": {"status": 500, "field": None, "message":
                                       "the server failed on this request", "fix":
                                       "see the server's log; report it if it persists"}},
                            status_code=500)

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        rows = parse_rows(await _body(request, limits.max_body_bytes), predictor.schema,
                          limits.max_rows)
        try:
            answer: dict[str, Any] = {"predictions": await batcher.submit(rows)}
        except UserError as err:
            raise from_user_error(str(err).strip().splitlines()[0]) from None
        if rows.ignored:
            answer["ignored_columns"] = rows.ignored
        return JSONResponse(answer)

    @app.get("/metadata")
    async def describe() -> Response:
        return Response(metadata, media_type="application/json")

    @app.get("/health")
    async def health() -> JSONResponse:
        ready = batcher.running
        return JSONResponse({"live": True, "ready": ready}, status_code=200 if ready else 503)

    return TokenGuard(app, token) if token else app
