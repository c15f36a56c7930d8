#!/usr/bin/env bash
# Refresh-token rotation under races and signals, against the emulator (`--mock`), all runs
# sharing one state directory (the token store and the emulator's state).
#
#   bench/rotation.sh race [JOBS] [ROUNDS]     JOBS (20) `dmflow run --mock flows/refresh.yaml`
#                                              at once, ROUNDS (5) times: counts the failed
#                                              runs, then checks the stored refresh token works
#   bench/rotation.sh kill [ROUNDS] [SIGNAL]   ROUNDS (160) runs of refresh.yaml, each sent
#                                              SIGNAL (KILL) at a random moment within the
#                                              time one run takes (measured first): counts the
#                                              rounds after which the stored refresh token no
#                                              longer works, and how many of those dmflow
#                                              explained (what the next refresh said is shown)
#
# Uses target/release/dmflow (built if missing), or $DMFLOW.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DMFLOW:-target/release/dmflow}
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DMFLOW_STATE_DIR="$work/state" NO_COLOR=1

login() { "$bin" run --mock -q flows/login.yaml > /dev/null 2>&1; }
refresh() { "$bin" run --mock -q flows/refresh.yaml > "$work/out" 2>&1; }

race() {
  local jobs=${1:-20} rounds=${2:-5} failed=0 total=0 start end
  login
  start=$(date +%s.%N)
  for round in $(seq "$rounds"); do
    pids=()
    for j in $(seq "$jobs"); do
      "$bin" run --mock -q flows/refresh.yaml > "$work/race.$round.$j" 2>&1 &
      pids+=($!)
    done
    for j in "${!pids[@]}"; do
      total=$((total + 1))
      if ! wait "${pids[$j]}"; then
        failed=$((failed + 1))
        echo "round $round, run $((j + 1)) failed:"; sed 's/^/  /' "$work/race.$round.$((j + 1))"
      fi
    done
  done
  end=$(date +%s.%N)
  if refresh; then works=yes; else works=no; cat "$work/out"; fi
  printf '%s runs (%s at once, %s rounds) in %.1f s: %s failed; the stored refresh token works afterwards: %s\n' \
    "$total" "$jobs" "$rounds" "$(echo "$end - $start" | bc)" "$failed" "$works"
  [ "$failed" = 0 ] && [ "$works" = yes ]
}

kill_rounds() {
  local rounds=${1:-160} signal=${2:-KILL} lost=0 explained=0 window start ms
  login
  start=$(date +%s%N); refresh; window=$(( ($(date +%s%N) - start) / 1000000 ))
  : > "$work/codes"
  set -m # job control: a background job of a script would otherwise ignore SIGINT
  for round in $(seq "$rounds"); do
    "$bin" run --mock -q flows/refresh.yaml > /dev/null 2>&1 &
    pid=$!
    ms=$((RANDOM % window))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill "-$signal" "$pid" 2>/dev/null || true
    { wait "$pid"; echo $? >> "$work/codes"; } 2>/dev/null || true
    if ! refresh; then
      lost=$((lost + 1))
      echo "round $round lost the rotation; the next refresh said:"; sed 's/^/  /' "$work/out"
      grep -q "had already been sent by dmflow" "$work/out" && explained=$((explained + 1))
      login
    fi
  done
  echo "exit codes seen (count code): $(sort -n "$work/codes" | uniq -c | xargs)"
  echo "$rounds rounds of ${window} ms, SIG$signal at a random moment: $lost lost the rotation ($explained of them explained by dmflow)"
}

case ${1:-race} in
  race) race "${2:-20}" "${3:-5}" ;;
  kill) kill_rounds "${2:-160}" "${3:-KILL}" ;;
  *) echo "usage: $0 race [JOBS] [ROUNDS] | kill [ROUNDS] [SIGNAL]" >&2; exit 2 ;;
esac
