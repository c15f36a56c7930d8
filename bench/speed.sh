#!/usr/bin/env bash
# dmflow's speed against Hurl, curl, xh, oha and wrk: installs the missing peers, builds the
# release binary, prints the markdown table. Arguments go to bench/speed.py (--only NAME, --help).
set -euo pipefail
command -v python3 >/dev/null || { echo "speed.sh needs python3 (apt-get install python3)" >&2; exit 2; }
exec python3 "$(dirname "$0")/speed.py" "$@"
