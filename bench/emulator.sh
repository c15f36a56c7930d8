#!/usr/bin/env bash
# Load benchmark of the Dailymotion emulator, with a peer in the same run: the Node.js
# oidc-provider test server answering the same /echo (it validates the bearer token too).
# Needs: wrk (apt-get install wrk), a release build, `npm ci --prefix tests/oidc`.
# Prints the median requests/s of RUNS runs of DURATION each.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
bin=target/release/dmflow
[ -x "$bin" ] || cargo build --release
state=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$state"' EXIT

"$bin" mock --port 0 --auto-approve --state-file "$state/emu.json" > "$state/mock.url" 2>/dev/null &
node tests/oidc/server.mjs 0 > "$state/oidc.url" 2>/dev/null &
sleep 1.5
mock=$(head -1 "$state/mock.url")
oidc=$(head -1 "$state/oidc.url")

# A user token from the emulator (password grant) for the authenticated /echo.
token=$(curl -s -X POST "$mock/oauth/token" -d grant_type=password -d username=demo@dmflow.test \
  -d password=demo-password -d client_id=5f1e0dmflowdemo0key0 -d client_secret=dmflow-demo-secret-4c7e9a | jq -r .access_token)

cat > "$state/token.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=5f1e0dmflowdemo0key0&client_secret=dmflow-demo-secret-4c7e9a"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # name, wrk args...
  local name=$1; shift
  local rates=()
  for _ in $(seq "$RUNS"); do
    rates+=("$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@" | awk '/Requests\/sec/ {print $2}')")
  done
  printf '%-44s median %10.0f req/s   (runs: %s)\n' "$name" "$(printf '%s\n' "${rates[@]}" | median)" "${rates[*]}"
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $RUNS runs each, $(nproc) cores"
measure "emulator GET /echo (no token)" "$mock/echo?message=hi"
measure "emulator GET /echo (bearer token checked)" -H "Authorization: Bearer $token" "$mock/echo?message=hi"
measure "emulator POST /oauth/token (client_credentials)" -s "$state/token.lua" "$mock/oauth/token"
measure "peer: oidc-provider GET /echo (no token: 401)" "$oidc/echo?message=hi"
