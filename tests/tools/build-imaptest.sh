#!/usr/bin/env bash
# Builds Dovecot's imaptest (MIT licence, release-2.3 line, commit 0de0dbf) from the source in
# the workplace's shared/vendor, against Debian's dovecot-dev 2.3.19, and installs it under
# PREFIX. Copied from shared/tools/build-imaptest.sh, plus two fixes of imaptest's own
# bookkeeping (imaptest-stress-aborts.patch beside this script), each an assertion its stress
# clients aborted on whatever the server answered: a STORE whose range reached messages known
# only by EXISTS, and a checkpoint's CHECK left planned for a client sent to LOGOUT when the
# run's time was up. A PREFIX built without those fixes is built again.
#   usage: build-imaptest.sh VENDOR_DIR [PREFIX]        (default PREFIX: ./target/imaptest)
# Afterwards: PREFIX/bin/imaptest and PREFIX/tests (the scripted tests, `test=PREFIX/tests`).
# Needs root for apt-get (only when a build package is missing). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vendor=$(cd "$1" && pwd)
prefix=$(mkdir -p "${2:-target/imaptest}" && cd "${2:-target/imaptest}" && pwd)
fixes=$(sha256sum "$here/imaptest-stress-aborts.patch" | cut -d' ' -f1)
if [ -x "$prefix/bin/imaptest" ] && [ -d "$prefix/tests" ] &&
  [ "$(cat "$prefix/fixes.sha256" 2>/dev/null)" = "$fixes" ]; then
  echo "$prefix/bin/imaptest"
  exit 0
fi

need=(dovecot-dev autoconf automake libtool pkg-config make gcc)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$vendor/imaptest-0de0dbf.tar.gz" -C "$work"
cd "$work/imaptest-0de0dbf"
# Debian's 2.3.19 headers take a 4th argument (parser params) in imap_parser_create.
patch -p1 -s < "$vendor/imaptest-debian-2.3.19.patch"
patch -p1 -s < "$here/imaptest-stress-aborts.patch"
{
  ./autogen.sh
  ./configure --prefix="$prefix" --with-dovecot=/usr/lib/dovecot LDFLAGS="-Wl,-rpath,/usr/lib/dovecot"
  make -j"$(nproc)"
  make install
} > "$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; exit 1; }
rm -rf "$prefix/tests"; cp -r src/tests "$prefix/tests"
echo "$fixes" > "$prefix/fixes.sha256"
echo "$prefix/bin/imaptest"
