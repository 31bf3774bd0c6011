# Sourced by scripts/container-smoke.sh and scripts/measure-image.sh: the Bot API stand-in
# (tests/servers/botapi.py) on loopback, and its control API. The caller sets PYTHON, WORK
# (a scratch folder) and TOKEN, and stops STANDIN_PID on exit.

# start_standin: start the stand-in; sets STANDIN_PID and API (its base URL). Returns 1 when
# it did not start (its stderr is in $WORK/botapi.err).
start_standin() {
    "$PYTHON" tests/servers/botapi.py --port 0 --token "$TOKEN" --ignore-stdin \
        >"$WORK/botapi.out" 2>"$WORK/botapi.err" </dev/null &
    STANDIN_PID=$!
    for _ in $(seq 100); do
        [[ -s $WORK/botapi.out ]] && break
        sleep 0.1
    done
    API=$(head -1 "$WORK/botapi.out")
    [[ $API == http://127.0.0.1:* ]]
}

# control ACTION JSON: POST to the stand-in's control API, print the "result" as JSON.
control() {
    "$PYTHON" - "$API/_control/$1" "${2:-{\}}" <<'PY'
import json, sys, urllib.error, urllib.request
url, body = sys.argv[1], sys.argv[2].encode()
request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=600) as response:
        print(json.dumps(json.load(response)["result"]))
except urllib.error.HTTPError as error:
    sys.exit(f"{url}: {json.load(error).get('description')}")
PY
}
