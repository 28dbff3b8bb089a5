#!/bin/sh
# Records Dovecot's answers for every MIME fixture into tests/golden/dovecot/, for the
# mime_golden tests to compare against. Needs Debian's dovecot-imapd and python3.
#
# Starts Dovecot on a loopback port with a throw-away config (maildir, a static passdb user),
# APPENDs each fixture to its own mailbox, and stores per fixture:
#   NAME.fetch     the raw untagged response to FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)
#   NAME.sections  every fetched section as "SECTION <item> <length>\n<bytes>\n"
#
# The messages are the fixtures of tests/fixtures/mime plus our own edge cases in tests/golden/extra/
# (recorded as extra-NAME).
#
# Usage: record-dovecot.sh [FIXTURE_DIR] (default: ../../../tests/fixtures/mime, the in-repo copy)
# Environment: GOLDEN_OUT (where to write; default tests/golden/dovecot), DOVECOT_PORT.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${1:-$here/../../../tests/fixtures/mime}
fixtures=$(cd "$fixtures" && pwd)
extra=$here/extra
out=${GOLDEN_OUT:-$here/dovecot}  # GOLDEN_OUT: record elsewhere, e.g. to check the goldens
mkdir -p "$out"
tmp=$(mktemp -d)
port=${DOVECOT_PORT:-14343}
if [ "$(id -u)" = 0 ]; then
  # Dovecot refuses to run its login process and mail access as root.
  login_user=dovenull; user=dovecot; group=dovecot
  chown "$user:$group" "$tmp"
else
  login_user=$(id -un); user=$login_user; group=$(id -gn)
fi
uid=$(id -u "$user"); gid=$(id -g "$user")

cat >"$tmp/dovecot.conf" <<CONF
base_dir = $tmp/run
state_dir = $tmp/state
log_path = $tmp/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = $login_user
default_internal_user = $user
default_internal_group = $group
mail_location = maildir:$tmp/mail/%u
first_valid_uid = 1
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$tmp/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF

dovecot -F -c "$tmp/dovecot.conf" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; [ -n "${KEEP_TMP:-}" ] && cat "$tmp/dovecot.log"; rm -rf "$tmp"' EXIT
sleep 1

python3 - "$port" "$fixtures" "$out" "$extra" <<'PY'
import os, re, socket, sys, time

port, fixtures, out, extra = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class Imap:
    def __init__(self):
        for _ in range(50):
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                time.sleep(0.2)
        self.buf = b""
        self.tag = 0
        self.line()  # greeting

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        """One response line with its literals, as raw bytes."""
        raw = self.line()
        while True:
            m = re.search(rb"\{(\d+)\}\r\n$", raw)
            if not m:
                return raw
            raw += self.take(int(m.group(1)))
            raw += self.line()

    def command(self, text, literal=None):
        self.tag += 1
        tag = b"A%d" % self.tag
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            if not self.line().startswith(b"+"):
                raise RuntimeError("no continuation")
            self.sock.sendall(literal + b"\r\n")
        untagged = []
        while True:
            r = self.response()
            if r.startswith(tag + b" "):
                if not r.startswith(tag + b" OK"):
                    raise RuntimeError(r)
                return untagged
            untagged.append(r)

def section_value(resp, item):
    """The value of ITEM in a FETCH response: literal bytes, quoted string, or NIL (None)."""
    i = resp.find(item + b" ")
    if i < 0:
        raise RuntimeError(b"item missing: " + item + b" in " + resp[:200])
    rest = resp[i + len(item) + 1:]
    m = re.match(rb"\{(\d+)\}\r\n", rest)
    if m:
        n = int(m.group(1))
        return rest[m.end():m.end() + n]
    if rest.startswith(b"NIL"):
        return None
    if rest.startswith(b'"'):
        out, j = b"", 1
        while rest[j:j+1] != b'"':
            if rest[j:j+1] == b"\\":
                j += 1
            out += rest[j:j+1]
            j += 1
        return out
    raise RuntimeError(b"unexpected value: " + rest[:50])

paths = [""]
for a in range(1, 4):
    paths.append("%d" % a)
    for b in range(1, 4):
        paths.append("%d.%d" % (a, b))
        for c in range(1, 4):
            paths.append("%d.%d.%d" % (a, b, c))
sections = ["", "HEADER", "TEXT", "HEADER.FIELDS (FROM SUBJECT)",
            "HEADER.FIELDS.NOT (FROM SUBJECT)", "HEADER.FIELDS (CONTENT-TYPE X-NONE)"]
paths += ["%d" % a for a in range(4, 13)] + ["%d.1" % a for a in range(4, 13)]
for p in paths[1:]:
    sections += [p, p + ".MIME", p + ".HEADER", p + ".TEXT"]
partials = [("", "<0.100>"), ("", "<17.3>"), ("", "<100000000.10>"), ("TEXT", "<10.50>"),
            ("1", "<5.20>"), ("2", "<0.1>"), ("HEADER.FIELDS (FROM SUBJECT)", "<3.10>")]

imap = Imap()
imap.command(b"LOGIN tester secret")
messages = [(os.path.join(fixtures, f), os.path.splitext(f)[0])
            for f in sorted(os.listdir(fixtures))]
messages += [(os.path.join(extra, f), "extra-" + os.path.splitext(f)[0])
             for f in sorted(os.listdir(extra))]
for n, (path, stem) in enumerate(messages):
    raw = open(path, "rb").read()
    name = os.path.basename(path)
    box = b"fixture%d" % n
    imap.command(b"CREATE " + box)
    imap.command(b"APPEND " + box, raw)
    imap.command(b"SELECT " + box)
    fetch = imap.command(b"FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)")
    with open(os.path.join(out, stem + ".fetch"), "wb") as f:
        f.write(b"".join(r for r in fetch if b" FETCH " in r))
    with open(os.path.join(out, stem + ".sections"), "wb") as f:
        items = [(s, "") for s in sections] + list(partials)
        for spec, partial in items:
            cmd = ("FETCH 1 (BODY.PEEK[%s]%s)" % (spec, partial)).encode()
            resp = b"".join(r for r in imap.command(cmd) if b" FETCH " in r)
            shown = b"BODY[%s]" % spec.encode()
            if partial:
                shown += partial.split(".")[0].encode() + b">"
            value = section_value(resp, shown)
            value = b"" if value is None else value
            f.write(b"SECTION BODY[%s]%s %d\n" % (spec.encode(), partial.encode(), len(value)))
            f.write(value + b"\n")
    print("recorded", name)
imap.command(b"LOGOUT")
PY
