#!/usr/bin/env bash
# Build the newsbot image (newsbot:dev) and prove it answers, end to end:
#
#   1. docker (when an engine answers) or podman (installed and set up when missing, as root);
#   2. build the Dockerfile, tagged newsbot:dev;
#   3. start the Telegram Bot API stand-in (tests/servers/botapi.py, standard library only) on
#      127.0.0.1 and the bot container against it, with host networking;
#   4. an admin uploads the sample article, a user asks "Who took control of the Panjshir
#      valley?", the reply must quote "Taliban" and name the source;
#   5. the container runs as non-root, `newsbot healthcheck` passes, and the model is inside:
#      `ask` answers from the same volume with no network at all;
#   6. the containers, the volume and the stand-in are removed (the image stays).
#
# Idempotent: the podman set-up (packages, containers.conf, a local stand-in for
# python:3.11-slim when no registry can be reached) is done once and reused.
#
# Environment: NEWSBOT_IMAGE (default newsbot:dev), NEWSBOT_SMOKE_STATE (podman set-up, default
# /var/tmp/newsbot-container), NEWSBOT_SMOKE_ENGINE (docker|podman, default: detect),
# NEWSBOT_SMOKE_TIMEOUT (seconds to wait for each bot reply, default 180).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/standin.sh
source scripts/standin.sh

IMAGE=${NEWSBOT_IMAGE:-newsbot:dev}
STATE=${NEWSBOT_SMOKE_STATE:-/var/tmp/newsbot-container}
REPLY_TIMEOUT=${NEWSBOT_SMOKE_TIMEOUT:-180}
SAMPLE=tests/fixtures/voa-2021-09-06-panjshir.txt
QUESTION="Who took control of the Panjshir valley?"
TOKEN="123456789:smoke-test-token"
ADMIN_ID=111111
USER_ID=222222
NAME="newsbot-smoke-$$"
VOLUME="newsbot-smoke-data-$$"
PYTHON=$(command -v python3)

STARTED=$(date +%s)
SUMMARY=()
STANDIN_PID=""
WORK=$(mktemp -d)

log() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "FAILED: $*"
    exit 1
}
note() {
    SUMMARY+=("$*")
    log "$*"
}

# ------------------------------------------------------------------------------ the engine

engine_is_docker() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

setup_podman() {
    local missing=()
    for tool in podman buildah runc debootstrap; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) == 0 ]] || die "podman is missing (${missing[*]}) and only root can install it"
        log "installing podman buildah runc debootstrap fuse-overlayfs"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            podman buildah runc debootstrap fuse-overlayfs >/dev/null
    fi
    mkdir -p "$STATE"
    # crun refuses this kernel's mixed cgroup layout; the default ulimits ask for more than
    # root may raise here (see ../shared/CONTAINERS.md).
    local nofile
    nofile=$(ulimit -Hn)
    cat >"$STATE/containers.conf.new" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
    mv "$STATE/containers.conf.new" "$STATE/containers.conf"
    export CONTAINERS_CONF="$STATE/containers.conf"
}

# A base image: the real python:3.11-slim when it is here or can be pulled, else a stand-in
# built from Debian bookworm's own python3 (debootstrap, no registry needed).
STANDIN_BASE=localhost/newsbot-python-standin:3.11-slim

podman_base_image() {
    if podman image exists docker.io/library/python:3.11-slim; then
        echo docker.io/library/python:3.11-slim
        return
    fi
    if podman image exists "$STANDIN_BASE"; then
        echo "$STANDIN_BASE"
        return
    fi
    if timeout 300 podman pull -q docker.io/library/python:3.11-slim >/dev/null 2>&1; then
        echo docker.io/library/python:3.11-slim
        return
    fi
    log "no registry: building $STANDIN_BASE with debootstrap"
    local mirror rootfs
    mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs="$STATE/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 ||
        die "debootstrap failed, see $STATE/debootstrap.log"
    # Same apt sources and settings as the host, so apt inside works the same way.
    cp -a /etc/apt/sources.list.d/. "$rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
    [[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$rootfs/etc/apt/"
    cp -a /etc/apt/apt.conf.d/. "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
    rm -f "$rootfs/usr/lib/python3.11/EXTERNALLY-MANAGED"
    ln -sf python3 "$rootfs/usr/bin/python"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | podman import -q - "$STANDIN_BASE" >/dev/null
    rm -rf "$rootfs"
    echo "$STANDIN_BASE"
}

# pip inside the build must see what the host's pip sees here (its certificate authorities,
# the local wheel folder with torch's CPU build, the local indexes), through build-time mounts
# and build arguments only: the Dockerfile's defaults stay those of real users.
podman_pip_options() {
    local -n options=$1
    local cert find_links extra pip_conf="$STATE/pip.conf"
    cert=$(pip3 config get global.cert 2>/dev/null || echo "${PIP_CERT:-${SSL_CERT_FILE:-}}")
    find_links=$(pip3 config get global.find-links 2>/dev/null || echo "${PIP_FIND_LINKS:-}")
    extra=$(pip3 config get global.extra-index-url 2>/dev/null || true)
    extra=${extra//$'\n'/ }
    printf '[global]\n' >"$pip_conf"
    if [[ -n $cert && -f $cert ]]; then
        options+=(-v "$cert:/etc/ssl/certs/host-ca.pem:ro")
        printf 'cert = /etc/ssl/certs/host-ca.pem\n' >>"$pip_conf"
    fi
    if [[ -n $find_links && -d $find_links ]]; then
        options+=(-v "$find_links:$find_links:ro")
        printf 'find-links = %s\n' "$find_links" >>"$pip_conf"
    fi
    if [[ -n $extra ]]; then
        local index
        for index in $extra; do
            # A local index (.../simple) links to files beside it: mount its parent folder.
            local folder
            folder=$(dirname "${index#file://}")
            [[ $index == file://* && -d $folder ]] && options+=(-v "$folder:$folder:ro")
        done
        # PyTorch's CPU index (the default) cannot be reached here; the CPU wheel comes from
        # find-links instead.
        options+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra")
    fi
    options+=(-v "$pip_conf:/etc/pip.conf:ro")
}

if [[ ${NEWSBOT_SMOKE_ENGINE:-} == docker ]] || { [[ -z ${NEWSBOT_SMOKE_ENGINE:-} ]] && engine_is_docker; }; then
    ENGINE=docker
else
    ENGINE=podman
    setup_podman
fi
note "engine: $ENGINE ($($ENGINE --version | head -1))"

# ------------------------------------------------------------------------------ clean-up

cleanup() {
    local status=$?
    if ((status != 0)) && [[ -n ${ENGINE:-} ]] && $ENGINE container inspect "$NAME" >/dev/null 2>&1; then
        log "bot container log (last 40 lines):"
        $ENGINE logs --tail 40 "$NAME" >&2 2>&1 || true
    fi
    if [[ -n ${ENGINE:-} ]]; then
        # (podman without systemd complains about health check timers here: harmless)
        $ENGINE rm -f -v "$NAME" >/dev/null 2>&1 || true
        $ENGINE volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    fi
    [[ -n $STANDIN_PID ]] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------ build

BUILD_ARGS=(-t "$IMAGE")
if [[ $ENGINE == podman ]]; then
    BASE=$(podman_base_image)
    # docker format keeps HEALTHCHECK (OCI drops it).
    BUILD_ARGS+=(--format docker --build-arg "BASE_IMAGE=$BASE")
    podman_pip_options BUILD_ARGS
    note "base image: $BASE"
fi
log "building $IMAGE"
previous=$($ENGINE image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
build_start=$(date +%s)
$ENGINE build "${BUILD_ARGS[@]}" . >"$WORK/build.log" 2>&1 || {
    tail -40 "$WORK/build.log" >&2
    die "image build failed"
}
BUILD_SECONDS=$(($(date +%s) - build_start))
# The image this build replaced, now untagged, is ours to remove (nothing else is).
if [[ -n $previous && $previous != $($ENGINE image inspect --format '{{.Id}}' "$IMAGE") ]]; then
    $ENGINE rmi "$previous" >/dev/null 2>&1 || true
fi
SIZE_BYTES=$($ENGINE image inspect --format '{{.Size}}' "$IMAGE")
note "built $IMAGE in ${BUILD_SECONDS}s, $((SIZE_BYTES / 1000000)) MB uncompressed"

# ------------------------------------------------------------------------------ image checks

config_user=$($ENGINE image inspect --format '{{.Config.User}}' "$IMAGE")
[[ -n $config_user && $config_user != root && $config_user != 0* ]] ||
    die "image user is '$config_user', not a non-root user"
health=$($ENGINE image inspect --format '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$IMAGE")
[[ $health == *healthcheck* ]] || die "image has no HEALTHCHECK (got '$health')"
note "image: user $config_user, healthcheck $health"

# ------------------------------------------------------------------------------ the stand-in

start_standin || die "the Bot API stand-in did not start: $(cat "$WORK/botapi.err")"
note "Bot API stand-in: $API"

# ------------------------------------------------------------------------------ the bot

$ENGINE run -d --name "$NAME" --network host \
    -v "$VOLUME:/data" \
    -e NEWSBOT_TELEGRAM__TOKEN="$TOKEN" \
    -e NEWSBOT_TELEGRAM__ADMINS="[$ADMIN_ID]" \
    -e NEWSBOT_TELEGRAM__BASE_URL="$API/bot" \
    -e NEWSBOT_TELEGRAM__BASE_FILE_URL="$API/file/bot" \
    "$IMAGE" >/dev/null 2>>"$WORK/engine.err"
log "bot container $NAME started; waiting for it to poll"
deadline=$(($(date +%s) + REPLY_TIMEOUT))
until control calls | grep -q getUpdates; do
    $ENGINE container inspect --format '{{.State.Running}}' "$NAME" | grep -q true ||
        die "the bot container exited"
    (($(date +%s) < deadline)) || die "the bot never polled for updates"
    sleep 1
done

running_uid=$($ENGINE exec "$NAME" id -u)
[[ $running_uid != 0 ]] || die "the bot runs as root"
note "bot runs as uid $running_uid ($($ENGINE exec "$NAME" id -un))"

# The admin uploads the sample article as a document.
file_id=$("$PYTHON" -c 'import base64, json, sys; print(json.dumps({"data_base64": base64.b64encode(open(sys.argv[1], "rb").read()).decode(), "file_name": "voa-panjshir.txt", "mime_type": "text/plain"}))' "$SAMPLE" |
    { read -r body; control add_file "$body"; } | tr -d '"')
control user_message "{\"text\": \"\", \"user_id\": $ADMIN_ID, \"document\": \"$file_id\"}" >/dev/null
ingest_start=$(date +%s)
# The bot first says it is working on it, then edits that message into the outcome.
until control sent_messages "{\"chat_id\": $ADMIN_ID}" | grep -q 'Done'; do
    (($(date +%s) < ingest_start + REPLY_TIMEOUT)) || die "no outcome of the upload: $(control sent_messages "{\"chat_id\": $ADMIN_ID}")"
    sleep 1
done
outcome=$(control sent_messages "{\"chat_id\": $ADMIN_ID}")
grep -q 'added' <<<"$outcome" || die "the upload was not added: $outcome"
note "admin upload: added in $(($(date +%s) - ingest_start))s"

# A user asks.
ask_start=$(date +%s)
control user_message "{\"text\": \"$QUESTION\", \"user_id\": $USER_ID}" >/dev/null
reply=$(control wait_for_messages "{\"chat_id\": $USER_ID, \"count\": 1, \"timeout\": $REPLY_TIMEOUT}") ||
    die "no answer to the question"
reply_text=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[0]["text"])' <<<"$reply")
grep -q 'Taliban' <<<"$reply_text" || die "the answer quotes no 'Taliban': $reply_text"
grep -q -E 'Massoud Vows to Fight on|VOA' <<<"$reply_text" || die "the answer names no source: $reply_text"
note "user question answered in $(($(date +%s) - ask_start))s: $(head -c 160 <<<"$reply_text" | tr '\n' ' ')..."
rejected=$(control rejected)
[[ $rejected == "[]" ]] || die "the stand-in refused what the bot sent: $rejected"

$ENGINE exec "$NAME" newsbot healthcheck >"$WORK/health" 2>&1 || die "healthcheck failed: $(cat "$WORK/health")"
# Beside the bot it reads the bot's own report; it must not open the store the bot holds.
grep -q 'checked by the bot' "$WORK/health" || die "healthcheck did not read the bot's report: $(cat "$WORK/health")"
note "healthcheck in the running container: $(cat "$WORK/health")"
# The image's own HEALTHCHECK, as the engine runs it.
if [[ $ENGINE == podman ]]; then
    podman healthcheck run "$NAME" >/dev/null 2>>"$WORK/engine.err" || die "podman healthcheck run: unhealthy"
    status=healthy
else
    for _ in $(seq 60); do
        status=$(docker inspect --format '{{.State.Health.Status}}' "$NAME")
        [[ $status == starting ]] || break
        sleep 2
    done
fi
[[ $status == healthy ]] || die "the engine reports the container $status"
note "engine health status: $status"

# ------------------------------------------------------------------------------ the model inside

$ENGINE stop -t 20 "$NAME" >/dev/null 2>>"$WORK/engine.err"
$ENGINE run --rm --network none -v "$VOLUME:/data" "$IMAGE" \
    ask --json "$QUESTION" >"$WORK/offline.json" 2>"$WORK/offline.err" ||
    die "ask with no network failed: $(cat "$WORK/offline.err")"
"$PYTHON" - "$WORK/offline.json" <<'EOF' || die "ask with no network did not answer: $(cat "$WORK/offline.json")"
import json, sys
answer = json.load(open(sys.argv[1]))
assert answer["answered"] and "Taliban" in answer["passages"][0]["quote"], answer
EOF
note "ask --json with --network none (model inside, no download): answered with a Taliban quote"

printf '\n== newsbot container smoke: PASSED in %ss ==\n' "$(($(date +%s) - STARTED))"
printf '  %s\n' "${SUMMARY[@]}"
