#!/usr/bin/env bash
# Memory of large transfers: a SIZE file (default 1 GiB) goes up through a flow's `multipart:`
# to the emulator's upload URL and comes back through `save_body_to:`, and the dmflow
# process's peak RSS is measured (GNU time). curl does the same upload and download in the
# same run, as the peer. Needs a release build (built if missing), curl, jq, /usr/bin/time,
# and about 3×SIZE of free space under TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-1G}
bin=target/release/dmflow
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
mock_pid=
trap '[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"' EXIT

head -c "$SIZE" /dev/urandom > "$work/big.bin"
bytes=$(stat -c %s "$work/big.bin")
"$bin" mock --port 0 --max-upload-size 8GiB --encoding-polls 1 \
  --state-dir "$work/state" > "$work/mock.url" 2> "$work/mock.err" &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.url" ] && break; sleep 0.1; done
mock=$(head -1 "$work/mock.url")
[ -n "$mock" ] || { echo "the emulator did not start:"; cat "$work/mock.err"; exit 1; }
token=$(curl -s -X POST "$mock/oauth/token" -d grant_type=password -d username=demo@dmflow.test \
  -d password=demo-password -d scope=manage_videos -d client_id=5f1e0dmflowdemo0key0 \
  -d client_secret=dmflow-demo-secret-4c7e9a | jq -r .access_token)

cat > "$work/transfer.yaml" <<'YAML'
inputs: [api, ACCESS_TOKEN, FILE]
steps:
  - name: upload-url
    http: { url: <<api>>/file/upload, auth: { bearer: <<ACCESS_TOKEN>> } }
    save: { UPLOAD_URL: $.upload_url }
  - name: send
    http:
      method: POST
      url: <<UPLOAD_URL>>
      multipart: { file: { file: <<FILE>>, content_type: application/octet-stream } }
      timeout: 10m
    expect: { status: 200 }
    save: { FILE_URL: $.url, SIZE: $.size }
  - name: fetch
    http: { url: <<FILE_URL>>, save_body_to: back.bin, timeout: 10m }
    expect: { status: 200 }
outputs: [SIZE]
YAML

rss() { awk -F': ' '/Maximum resident set size/ {printf "%.1f MiB", $2/1024}' "$1"; }
secs() { awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$1"; }

/usr/bin/time -v -o "$work/dmflow.time" "$bin" run --no-store --json "$work/transfer.yaml" \
  --var "api=$mock" --var "ACCESS_TOKEN=$token" --var "FILE=$work/big.bin" > "$work/run.json" \
  2> "$work/run.err" || { cat "$work/run.err"; exit 1; }
[ "$(jq -r '.flows[0].outputs.SIZE' "$work/run.json")" = "$bytes" ] || { echo "upload size differs"; exit 1; }
cmp -s "$work/big.bin" "$work/back.bin" || { echo "the downloaded file differs"; exit 1; }
rm -f "$work/back.bin"

# The peer: curl, the same two transfers (two processes; the larger peak counts).
upload_url=$(curl -s -H "Authorization: Bearer $token" "$mock/file/upload" | jq -r .upload_url)
/usr/bin/time -v -o "$work/curl-up.time" curl -s -o "$work/up.json" \
  -F "file=@$work/big.bin;type=application/octet-stream" "$upload_url"
file_url=$(jq -r .url "$work/up.json")
/usr/bin/time -v -o "$work/curl-down.time" curl -s -o "$work/back.bin" "$file_url"
cmp -s "$work/big.bin" "$work/back.bin" || { echo "curl's download differs"; exit 1; }

echo "file: $bytes bytes, up through multipart: and back through save_body_to:"
printf '%-28s peak RSS %-12s wall %s\n' "dmflow (one run, both)" "$(rss "$work/dmflow.time")" "$(secs "$work/dmflow.time")"
printf '%-28s peak RSS %-12s wall %s\n' "curl -F (upload)" "$(rss "$work/curl-up.time")" "$(secs "$work/curl-up.time")"
printf '%-28s peak RSS %-12s wall %s\n' "curl -o (download)" "$(rss "$work/curl-down.time")" "$(secs "$work/curl-down.time")"
