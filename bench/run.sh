#!/bin/sh
# Benchmarks `wildduck serve` against Dovecot side by side on this machine; see
# docs/benchmarks.md. Usage: bench/run.sh [--quick] [--json-out FILE] [--only PARTS]
# Installs Dovecot (IMAP, POP3, LMTP, submission) and aiosmtpd if missing (Debian/Ubuntu, needs root), builds the release binaries,
# then runs bench/run.py, which prints the tables as Markdown on stdout.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)

packages="dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-submissiond"
if ! dpkg -s $packages >/dev/null 2>&1; then
  echo "installing $packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
fi
python3 -c 'import aiosmtpd' 2>/dev/null || pip install --quiet aiosmtpd
# The packaged service (if any) must not hold the ports or the config; ours runs its own.
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

cd "$repo"
cargo build --release --bin wildduck --bin wildduck-bench >&2

# 1,000 idle connections on each server need more descriptors than the usual 1024.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bin=${CARGO_TARGET_DIR:-$repo/target}/release
exec python3 "$repo/bench/run.py" --wildduck "$bin/wildduck" --tool "$bin/wildduck-bench" "$@"
