#!/usr/bin/env bash
# Measure newsbot images side by side (docs/deployment.md, "Image size"): size, cold start to
# the first answer and peak memory, of `newsbot ask` and of the bot, and whether they answer
# alike, bit for bit, on the same store.
#
#   scripts/measure-image.sh newsbot:before newsbot:dev
#
# For each image: a volume with the sample article ingested by that image; `ask --json` in a
# new container RUNS times (wall time of `podman run`, median); the peak resident memory of
# `ask` (ru_maxrss, read inside the container); the bot started against the Bot API stand-in
# (tests/servers/botapi.py) with a question already waiting: time from `podman run` to its
# reply, and the bot's peak resident memory (VmHWM of its process) after answering. Then each
# image answers on the first image's store, and so does the local venv (VENV, default .venv,
# when it exists: the full install, running this tree's src/), and the answers are compared.
#
# Needs podman set up as scripts/container-smoke.sh does (it uses its containers.conf).
# Environment: RUNS (default 3), VENV, NEWSBOT_SMOKE_STATE (default /var/tmp/newsbot-container).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/standin.sh
source scripts/standin.sh

(($#)) || {
    echo "usage: $0 IMAGE..." >&2
    exit 2
}
RUNS=${RUNS:-3}
VENV=${VENV:-.venv}
STATE=${NEWSBOT_SMOKE_STATE:-/var/tmp/newsbot-container}
[[ -f $STATE/containers.conf ]] && export CONTAINERS_CONF=$STATE/containers.conf
SAMPLE=$(realpath tests/fixtures/voa-2021-09-06-panjshir.txt)
QUESTION="Who took control of the Panjshir valley?"
TOKEN="123456789:measure-token"
USER_ID=222222
PYTHON=$(command -v python3)
WORK=$(mktemp -d)
chmod 755 "$WORK"
cp "$SAMPLE" "$WORK/sample.txt"
chmod 644 "$WORK/sample.txt"
VOLUMES=()
STANDIN_PID=""

cleanup() {
    podman rm -f newsbot-measure-bot >/dev/null 2>&1 || true
    for volume in "${VOLUMES[@]}"; do podman volume rm -f "$volume" >/dev/null 2>&1 || true; done
    [[ -n $STANDIN_PID ]] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

start_standin || {
    echo "the Bot API stand-in did not start: $(cat "$WORK/botapi.err")" >&2
    exit 1
}

ask() { # IMAGE VOLUME: the JSON answer
    podman run --rm --network none -v "$2:/data" "$1" ask --json "$QUESTION" 2>>"$WORK/ask.err"
}

printf '%-22s %8s %14s %12s %16s %14s\n' image "size MB" "ask cold s" "ask peak MB" "bot 1st reply s" "bot peak MB"
index=0
for image in "$@"; do
    index=$((index + 1))
    volume="newsbot-measure-$$-$index"
    VOLUMES+=("$volume")
    podman volume create "$volume" >/dev/null
    podman run --rm --network none -v "$volume:/data" -v "$WORK/sample.txt:/sample.txt:ro" \
        "$image" ingest /sample.txt >/dev/null 2>"$WORK/ingest.err" ||
        {
            cat "$WORK/ingest.err" >&2
            exit 1
        }
    size=$(($(podman image inspect --format '{{.Size}}' "$image") / 1000000))

    for _ in $(seq "$RUNS"); do
        start=$(now)
        ask "$image" "$volume" >"$WORK/answer-$index.json"
        echo "$(now) - $start" | bc
    done >"$WORK/ask-times"
    ask_cold=$(median <"$WORK/ask-times")
    ask_peak=$(podman run --rm --network none -v "$volume:/data" --entrypoint python "$image" -c '
import resource, subprocess, sys
subprocess.run(["newsbot", "ask", "--json", sys.argv[1]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' "$QUESTION")

    # The bot: the question waits at the stand-in before the container starts.
    control user_message "{\"text\": \"$QUESTION\", \"user_id\": $USER_ID}" >/dev/null
    start=$(now)
    podman run -d --name newsbot-measure-bot --network host -v "$volume:/data" \
        -e NEWSBOT_TELEGRAM__TOKEN="$TOKEN" \
        -e NEWSBOT_TELEGRAM__BASE_URL="$API/bot" \
        -e NEWSBOT_TELEGRAM__BASE_FILE_URL="$API/file/bot" \
        "$image" >/dev/null 2>>"$WORK/engine.err"
    control wait_for_messages "{\"chat_id\": $USER_ID, \"count\": $index, \"timeout\": 300}" >/dev/null
    bot_reply=$(echo "$(now) - $start" | bc)
    bot_peak=$(podman exec newsbot-measure-bot sh -c 'grep VmHWM /proc/1/status' | awk '{print int($2 / 1024)}')
    podman stop -t 20 newsbot-measure-bot >/dev/null 2>>"$WORK/engine.err"
    podman rm -f newsbot-measure-bot >/dev/null 2>&1

    printf '%-22s %8s %14.2f %12s %16.2f %14s\n' "$image" "$size" "$ask_cold" "$ask_peak" "$bot_reply" "$bot_peak"
done

# Every image, and the full install here, on the first image's store.
first=${VOLUMES[0]}
echo
reference=""
for image in "$@"; do
    ask "$image" "$first" >"$WORK/same-store.json"
    digest=$(sha256sum <"$WORK/same-store.json" | cut -c1-16)
    reference=${reference:-$digest}
    echo "answer of $image on $1's store: sha256 $digest$([[ $digest == "$reference" ]] && echo ' (same)' || echo ' (DIFFERENT)')"
done
if [[ -x $VENV/bin/newsbot ]]; then
    store=$WORK/store-copy
    cp -a "$(podman volume inspect --format '{{.Mountpoint}}' "$first")/store" "$store"
    # This tree's code (the images' own), on the venv's packages (torch among them).
    NEWSBOT_STORE__PATH=$store HF_HUB_OFFLINE=1 PYTHONPATH=$PWD/src \
        "$VENV/bin/python" -m newsbot ask --json "$QUESTION" >"$WORK/venv.json"
    digest=$(sha256sum <"$WORK/venv.json" | cut -c1-16)
    echo "answer of $VENV (full install) on $1's store: sha256 $digest$([[ $digest == "$reference" ]] && echo ' (same)' || echo ' (DIFFERENT)')"
fi
for image in "$@"; do
    podman run --rm --entrypoint sh "$image" -c \
        'sha256sum /opt/newsbot/models/*/model.int8.onnx' 2>/dev/null | sed "s|^|$image: |" | cut -c1-120
done
