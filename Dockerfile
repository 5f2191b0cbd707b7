# The server in a container (docs/serving.md):
#   docker build -t fivestep-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/logs:/app/logs:ro" \
#     -e FIVESTEP_SERVE_TOKEN="$(cat serve.token)" \
#     fivestep-serve ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
# It listens on 0.0.0.0 inside the container, so serve.py requires the token (an
# environment variable, or token_file=/run/secrets/<name>); /health needs none.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 serve
WORKDIR /app
COPY Makefile pyproject.toml constraints.txt README.md ./
COPY scripts/setup_torch.py scripts/
COPY src src
# torch's CPU build, then fivestep with the server and onnxruntime, at constraints.txt's versions
RUN make setup PYTHON=python3 TORCH_DEVICE=cpu EXTRAS=serve,export && rm -rf /root/.cache
COPY configs configs
COPY serve.py ./

USER serve
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD [".venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"]
ENTRYPOINT [".venv/bin/python", "serve.py", "host=0.0.0.0", "port=8000", "paths.log_dir=/tmp/logs"]
