"""`serve(cfg)`: a trained model behind HTTP, answering rows as `predict.py` does.

Reads top to bottom: decide who may call (a loopback address, or a token from
`token_file` / the `token_env` variable: the server refuses to listen on any other
address without one), load the model (`ckpt_path`, or `model=<file.onnx>` from
export.py, which the shim passes on as `onnx=`), build the application
(`fivestep.serving.app`) and run it under uvicorn until SIGTERM or Ctrl-C, which
stop new connections, let the requests in flight finish (at most
`graceful_timeout_s`) and return normally: the process exits 0.
"""

import ipaddress
import logging
import os
import signal
from pathlib import Path

from omegaconf import DictConfig

from fivestep.errors import UserError

log = logging.getLogger(__name__)

MIN_TOKEN = 16  # characters; `python -c "import secrets; print(secrets.token_urlsafe(32))"`


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(cfg: DictConfig) -> str | None:
    """The bearer token from `token_file` (its first line) or the `token_env` variable."""
    where = None
    if cfg.get("token_file"):
        path = Path(str(cfg.token_file))
        try:
            token = path.read_text().splitlines()[0].strip() if path.stat().st_size else ""
        except OSError as err:
            raise UserError(f"token_file={str(path)!r} cannot be read ({err.strerror}); give "
                            "a file holding the token on its first line") from None
        where = f"token_file={str(path)!r}"
    else:
        token = os.environ.get(str(cfg.get("token_env") or ""), "").strip()
        where = f"${cfg.get('token_env')}"
    if not token:
        return None
    if len(token) < MIN_TOKEN:
        raise UserError(f"the token in {where} has {len(token)} characters; use at least "
                        f"{MIN_TOKEN}, e.g. python -c \"import secrets; "
                        "print(secrets.token_urlsafe(32))\"")
    return token


def check_access(host: str, token: str | None, cfg: DictConfig) -> None:
    """Refuse to listen beyond this machine without a token."""
    if token is None and not is_loopback(host):
        raise UserError(
            f"host={host} accepts connections from other machines, so it needs a token: "
            f"set {cfg.get('token_env')}=<token> or token_file=<file> (make one with python -c "
            "\"import secrets; print(secrets.token_urlsafe(32))\"), or keep host=127.0.0.1"
        )


def onnx_argument(argv: list[str]) -> list[str]:
    """`model=<file.onnx>` on the command line as `onnx=<file.onnx>`: `model` is also the
    config group of the nets, and Hydra would look for `configs/model/<file.onnx>.yaml`."""
    return [f"onnx={a.split('=', 1)[1]}" if a.startswith("model=") and a.lower().endswith(
        ".onnx") else a for a in argv]


def load_predictor(cfg: DictConfig):  # noqa: ANN201 (a Predictor)
    """The checkpoint (`ckpt_path`) or the ONNX export (`onnx`, `model=<file.onnx>`)."""
    from fivestep.serving.predictors import CheckpointPredictor, OnnxPredictor

    onnx = cfg.get("onnx")
    if onnx:
        if not str(onnx).lower().endswith(".onnx"):
            raise UserError(f"onnx={onnx!r}: serve.py takes an .onnx file written by "
                            "export.py format=onnx, or ckpt_path=<file.ckpt>")
        if cfg.get("ckpt_path"):
            raise UserError("give either ckpt_path=<file.ckpt> or model=<file.onnx>, not both")
        return OnnxPredictor(str(onnx))
    if not cfg.get("ckpt_path"):
        raise UserError("ckpt_path is required: python serve.py ckpt_path=<file.ckpt> "
                        "(or model=<file.onnx> from export.py)")
    overrides = {k: cfg[k] for k in ("data", "model", "trainer", "seed") if k in cfg}
    return CheckpointPredictor(str(cfg.ckpt_path), DictConfig(overrides))


def serve(cfg: DictConfig) -> None:
    """Serve until SIGTERM or Ctrl-C; then finish the requests in flight and return."""
    import uvicorn

    from fivestep.serving.app import Limits, build_app

    host, port = str(cfg.get("host", "127.0.0.1")), int(cfg.get("port", 8000))
    token = read_token(cfg)
    check_access(host, token, cfg)
    predictor = load_predictor(cfg)
    limits = Limits(int(cfg.max_rows), int(cfg.max_body_bytes), int(cfg.max_batch_rows),
                    float(cfg.max_wait_ms))
    app = build_app(predictor, limits, token)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=bool(cfg.access_log),
        timeout_graceful_shutdown=int(cfg.graceful_timeout_s), server_header=False,
        limit_max_requests=None,
    )
    server = uvicorn.Server(config)
    log.info("Serving %s on http://%s:%d (%s; POST /predict, GET /metadata, GET /health)",
             predictor.metadata()["model"], host, port,
             "token required" if token else "no token: this machine only")
    # uvicorn handles SIGTERM/SIGINT while it serves (stop accepting, drain, shut down),
    # then restores the handlers it found and raises the signal again: the handler
    # found is this one, which only records it, so a drained server exits 0.
    stopped: list[int] = []
    before = {sig: signal.signal(sig, lambda sig, frame: stopped.append(sig))
              for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if stopped:
        log.info("Stopped by %s after the requests in flight", signal.Signals(stopped[0]).name)
