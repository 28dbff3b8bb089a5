#!/bin/sh
# Where our server's time goes on a small run: `wildduck serve` (release build, with debug
# info) under callgrind, a short load from wildduck-bench, then callgrind_annotate's top
# functions (inclusive). perf needs hardware counters this machine may lack; callgrind
# counts instructions anywhere.
# Usage: bench/profile.sh [OPS] [COUNT]   e.g. bench/profile.sh fetch_body,store 300
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
ops=${1:-append,fetch_flags,fetch_body,store,search_header,pop3_retr}
count=${2:-200}
corpus=${CORPUS:-$HOME/.cache/wildduck-bench/corpus-300-seed1.mbox}
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pop3=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/w.toml" <<CONF
data_dir = "$tmp/data"
[imap]
listen = "127.0.0.1:$port"
[pop3]
listen = "127.0.0.1:$pop3"
[log]
level = "warn"
[initial_account]
username = "bench0"
password = "secret"
CONF
valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" \
  "$repo/target/release/wildduck" --config "$tmp/w.toml" serve >"$tmp/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$pop3),1)" 2>/dev/null; do sleep 1; done
"$repo/target/release/wildduck-bench" --port "$port" --pop3-port "$pop3" load \
  --ops "$ops" -k 2 -n "$count" --seconds 120 --mbox "$corpus" >&2
kill -TERM $pid; wait $pid || true
out=${PROFILE_OUT:-$repo/target/callgrind.out}
cp "$tmp/callgrind.out" "$out"
# Logins hash passwords with argon2 (by design slow); leave them out to see the rest.
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "callgrind: $out, $total instructions in all"
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null \
  | grep -v -i 'argon2\|blake2\|password' \
  | grep -E 'wildduck_|sqlite3|rusqlite|serde_json|mail_parser|zstd|blake3|memcpy|malloc|free' \
  | head -${TOP:-60}
