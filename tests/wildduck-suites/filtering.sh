#!/usr/bin/env bash
# Runs WildDuck 1.46.1's `test/filtering-test.js` unchanged against a fresh `wildduck serve`:
# mail in over LMTP (nodemailer) to five users, two of them with PGP keys and encryption on;
# the copies read back parsed over the API and raw over IMAP (ImapFlow). The test has its
# ports written in: API 8080, LMTP 2424, IMAP 9993 with implicit TLS (a throw-away
# self-signed certificate made here), so this serve has a config of its own.
#
# The npm package lacks the two public keys the test reads (`test/fixtures/user2-public.key`,
# `user3-public.key`); they are the public halves of the package's own `User 2 (F8BFEF95).asc`
# and `User 3 (7293C995).asc`, copied out of those files. docs/api.md says so.
#
# Usage: tests/wildduck-suites/filtering.sh path/to/wildduck WORK
#   WORK holds the unpacked package (WORK/package) and node_modules with mocha, chai,
#   nodemailer, mailparser, imapflow and request (run.sh prepares it).
set -euo pipefail

bin=$1
work=$2
dir="$work/filtering"
mkdir -p "$dir"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

fixtures="$work/package/test/fixtures"
for user in 2 3; do
  sed -n '/-----BEGIN PGP PUBLIC KEY BLOCK-----/,/-----END PGP PUBLIC KEY BLOCK-----/p' \
    "$fixtures/User $user ("*").asc" >"$fixtures/user$user-public.key"
  grep -q "END PGP PUBLIC KEY BLOCK" "$fixtures/user$user-public.key" \
    || { echo "no public key in the package's User $user fixture"; exit 1; }
done

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

cat >"$dir/wildduck.toml" <<TOML
data_dir = "$dir/data"
[tls]
cert = "$dir/cert.pem"
key = "$dir/key.pem"
[api]
listen = "127.0.0.1:8080"
[imap]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:9993"
[pop3]
enabled = false
[lmtp]
listen = "127.0.0.1:2424"
[submission]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:0"
[initial_account]
create = false
TOML
"$bin" --config "$dir/wildduck.toml" serve >"$dir/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q "API (plain) listening on" "$dir/serve.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$dir/serve.log"; exit 1; }
  sleep 0.1
done
grep -q "API (plain) listening on" "$dir/serve.log" || { echo "serve did not start"; cat "$dir/serve.log"; exit 1; }

cd "$work/package"
NODE_ENV=test "$work/node_modules/.bin/mocha" --exit --reporter dot test/filtering-test.js
