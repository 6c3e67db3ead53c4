# syntax=docker/dockerfile:1.7
# One image for every role, chosen by the command (see docker-compose.prod.yml):
#   python -m wearon.bridge | scripts/worker (Dramatiq) | python -m wearon.scheduler |
#   uvicorn wearon.http:app --host 0.0.0.0 --port 8000
#
# Python 3.11, as on the developers' machines (Debian bookworm's python3) and in CI: the tests run
# on the Python that production runs, and requirements/runtime.txt is resolved for it. The base
# image is pinned by digest (the tag says what it is; .github/dependabot.yml proposes updates).

# --- builder: the locked dependencies, then the package, into /opt/venv ----------------------
FROM python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (requirements/runtime.txt: every version pinned, every file's hash checked),
# so a code change does not reinstall them.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: -r requirements/runtime.txt
COPY pyproject.toml ./
COPY wearon ./wearon
# Built with the locked setuptools (no build isolation: nothing unpinned is fetched).
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && python -m compileall -q /opt/venv/lib

# --- runtime -----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b AS runtime
# What MediaPipe's bundled OpenCV (opencv-contrib-python) links against, checked with
# `readelf -d` on the pinned wheels: libGL, GLib/GThread, X11/Xext/SM/ICE/xcb. tini reaps and
# forwards signals (SIGTERM must reach Dramatiq and uvicorn for a graceful drain).
# Not version-pinned on purpose: Debian drops superseded versions on every security update, and
# a rebuild should get those fixes; the base image tag pins the release (bookworm).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libgl1 libglib2.0-0 libx11-6 libxext6 libsm6 libice6 libxcb1 tini \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 wearon \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin wearon
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chmod=0755 scripts/worker scripts/worker
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    HEALTHCHECK_URL=http://127.0.0.1:8000/health
# No PROMETHEUS_MULTIPROC_DIR here: it is the worker's alone (compose sets it, scripts/worker
# creates it). In the other roles prometheus_client would write into a directory nobody created
# and crash at import.
USER 10001:10001
# Fail the build, not the deploy, if a runtime library is missing.
RUN python -c "import cv2, mediapipe.python.solutions.pose, wearon"
# Each role sets HEALTHCHECK_URL (its /health or metrics port); any non-2xx answer is unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
EXPOSE 8000 9101 9102 9191
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["uvicorn", "wearon.http:app", "--host=0.0.0.0", "--port=8000", "--proxy-headers", "--forwarded-allow-ips=*"]
