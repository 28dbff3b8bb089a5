#!/usr/bin/env python3
"""Side-by-side benchmark of `wildduck serve` against Dovecot on this machine.

Started by bench/run.sh (which installs Dovecot if missing and builds the release binaries).
Both servers run on loopback ports with the same accounts and the same corpus
(gen_mbox.py); the same load runs against each alternately, several rounds; the medians
and the ratio ours/Dovecot are printed per operation. Clients are measured as users meet
them: Python's stock imaplib (bench_append_fetch.py, unchanged), and the bench tool twice,
with Nagle on as stock clients leave it and with TCP_NODELAY as a tuned client sets it. Then mailbox-size scaling, memory per
idle connection, peak memory of a 50 MB APPEND, stored bytes, and logins per second.

Our server keeps its durability settings (SQLite synchronous=FULL); Dovecot keeps its
default fsync (mail_fsync = optimized). Both check real password hashes: ours argon2id,
Dovecot a passwd-file of SHA512-CRYPT hashes, each with its one-minute cache of verified
logins (Dovecot's auth_cache_size/auth_cache_ttl).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import smtp_load

MAIL_DOMAIN = "bench.test"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "secret"


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


# ---------------------------------------------------------------- process memory

def tree_pids(root):
    """root and all its descendants (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory_kib(root):
    """(RSS sum, PSS sum) in KiB over the process tree of root."""
    rss = pss = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def rss_only_kib(root):
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class PeakSampler:
    """Samples the RSS sum of a process tree every 20 ms in a thread; keeps the peak."""

    def __init__(self, root):
        self.root, self.peak, self.stop = root, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_only_kib(self.root))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# ---------------------------------------------------------------- corpus

def split_mbox(path):
    """Raw mbox chunks, each starting with its `From ` line."""
    data = open(path, "rb").read()
    chunks, start = [], 0
    while True:
        nxt = data.find(b"\nFrom ", start)
        if nxt < 0:
            chunks.append(data[start:])
            return chunks
        chunks.append(data[start:nxt + 1])
        start = nxt + 1


def chunk_message(chunk):
    """The message of an mbox chunk: From line dropped, >From unquoted (mboxrd)."""
    lines = chunk.split(b"\n")[1:]
    out = []
    for line in lines:
        stripped = line.lstrip(b">")
        if stripped is not line and len(stripped) < len(line) and stripped.startswith(b"From "):
            line = line[1:]
        out.append(line)
    body = b"\n".join(out)
    if body.endswith(b"\n\n"):
        body = body[:-1]
    return body


# ---------------------------------------------------------------- servers

class Server:
    """What both servers share: `proc` (the server process) and `logs` (its log files)."""

    def check_alive(self, doing):
        """Stops the run with the exit status and log tail of a server that has gone."""
        if self.proc.poll() is None:
            return
        tail = []
        for path in self.logs:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail += [f"{path}: {line}" for line in f.readlines()[-15:]]
        raise SystemExit(f"{self.name} exited with status {self.proc.returncode} before "
                         f"{doing}:\n{''.join(tail)}")


class Dovecot(Server):
    name = "dovecot"

    def __init__(self, work, users, relay_port):
        self.dir = os.path.join(work, "dovecot")
        self.mail = os.path.join(self.dir, "mail")
        os.makedirs(self.mail)
        self.imap_port, self.pop3_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.submission_port = free_port()
        if os.getuid() == 0:
            # Dovecot refuses to run its login processes and mail access as root.
            login_user, user, group = "dovenull", "dovecot", "dovecot"
        else:
            import grp
            import pwd
            login_user = user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
        import pwd as _pwd
        self.uid, self.gid = _pwd.getpwnam(user).pw_uid, _pwd.getpwnam(user).pw_gid
        conf = f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap pop3 lmtp submission
listen = 127.0.0.1
hostname = bench.test
# LMTP recipients are user@bench.test; the passdb knows them by the local part.
auth_username_format = %Ln
submission_relay_host = 127.0.0.1
submission_relay_port = {relay_port}
submission_relay_trusted = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = {login_user}
default_internal_user = {user}
default_internal_group = {group}
mail_location = maildir:{self.mail}/%u
first_valid_uid = 1
default_process_limit = 3000
default_client_limit = 6000
default_vsz_limit = 1G
auth_cache_size = 10M
auth_cache_ttl = 1 min
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.dir}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    auto = create
    special_use = \\Drafts
  }}
  mailbox "Sent Mail" {{
    auto = create
    special_use = \\Sent
  }}
  mailbox Junk {{
    auto = create
    special_use = \\Junk
  }}
  mailbox Trash {{
    auto = create
    special_use = \\Trash
  }}
}}
protocol imap {{
  mail_max_userip_connections = 3000
}}
protocol pop3 {{
  mail_max_userip_connections = 3000
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {self.submission_port}
  }}
  chroot =
}}
service anvil {{
  chroot =
  client_limit = 10000
}}
service auth {{
  client_limit = 10000
}}
"""
        with open(os.path.join(self.dir, "dovecot.conf"), "w") as f:
            f.write(conf)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for name in users:
                hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                                        capture_output=True, text=True).stdout.strip()
                f.write(f"{name}:{{SHA512-CRYPT}}{hashed}\n")
        os.chown(self.dir, self.uid, self.gid)
        os.chown(self.mail, self.uid, self.gid)
        self.logs = [os.path.join(self.dir, "dovecot.log"), os.path.join(self.dir, "dovecot.stdio")]
        self.stdio = open(self.logs[1], "w")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", os.path.join(self.dir, "dovecot.conf")],
                                     stdout=self.stdio, stderr=self.stdio)
        for port in (self.imap_port, self.pop3_port, self.lmtp_port, self.submission_port):
            wait_port(port)
        self.pid = self.proc.pid

    def fill(self, user, mailbox, messages, link_repeats=False):
        """Writes messages as maildir files (what delivery would have written). With
        link_repeats, a message equal to one written before becomes a hard link to that file
        (what Dovecot's own maildir COPY does), so a corpus repeated to 1M messages takes the
        disk of one copy."""
        folder = os.path.join(self.mail, user) if mailbox == "INBOX" else \
            os.path.join(self.mail, user, "." + mailbox.replace("/", "."))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
        base = int(time.time())
        written = {}
        for i, message in enumerate(messages):
            name = os.path.join(folder, "cur", f"{base}.M{i}P{os.getpid()}.bench,S={len(message)}:2,S")
            first = written.get(message) if link_repeats else None
            if first is None:
                with open(name, "wb") as f:
                    f.write(message)
                if link_repeats:
                    written[message] = name
            else:
                os.link(first, name)
        for dirpath, dirnames, filenames in os.walk(os.path.join(self.mail, user)):
            os.chown(dirpath, self.uid, self.gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.gid)

    def stored_bytes(self, user, mailbox):
        folder = os.path.join(self.mail, user, "." + mailbox)
        return int(subprocess.check_output(["du", "-sb", folder]).split()[0])

    def mdbox_zstd_bytes(self, user):
        """Copies the user's mail into an mdbox with the zlib plugin saving zstd (level 3,
        ours uses zstd too) by `doveadm backup`, and returns its `du -sb` (indexes included);
        None when doveadm or the plugin is missing."""
        dest = os.path.join(self.dir, "mdbox-zstd", user)
        done = subprocess.run(["doveadm", "-c", os.path.join(self.dir, "dovecot.conf"),
                               "-o", "mail_plugins=zlib", "-o", "plugin/zlib_save=zstd",
                               "-o", "plugin/zlib_save_level=3",
                               "backup", "-u", user, f"mdbox:{dest}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            log(f"mdbox with zstd not measured: doveadm said {done.stderr.strip()[-300:]}")
            return None
        return int(subprocess.check_output(["du", "-sb", dest]).split()[0])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Ours(Server):
    name = "ours"

    def __init__(self, work, binary, users, relay_port=None):
        self.binary = binary
        self.dir = os.path.join(work, "wildduck")
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.imap_port, self.pop3_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.submission_port, self.api_port = free_port(), free_port()
        self.config = os.path.join(self.dir, "wildduck.toml")
        relay = f'[outbound]\nrelay = "smtp://127.0.0.1:{relay_port}"\n' if relay_port else ""
        with open(self.config, "w") as f:
            f.write(f"""data_dir = "{self.data}"
{relay}[limits]
daily_recipients = 100000000
[submission]
listen = "127.0.0.1:{self.submission_port}"
[api]
listen = "127.0.0.1:{self.api_port}"
[imap]
listen = "127.0.0.1:{self.imap_port}"
max_connections = 3000
max_connections_per_user = 3000
[pop3]
listen = "127.0.0.1:{self.pop3_port}"
[lmtp]
listen = "127.0.0.1:{self.lmtp_port}"
[log]
level = "warn"
[initial_account]
username = "{users[0]}"
password = "{PASSWORD}"
""")
        self.logs = [os.path.join(self.dir, "serve.log")]
        self.log = open(self.logs[0], "w")
        self.proc = subprocess.Popen([binary, "--config", self.config, "serve"],
                                     stdout=self.log, stderr=self.log)
        wait_port(self.imap_port)
        wait_port(self.pop3_port)
        self.pid = self.proc.pid
        for user in users[1:]:
            self.admin("user", "add", user, "--password", PASSWORD)
        for user in users:
            self.admin("address", "add", user, f"{user}@{MAIL_DOMAIN}")

    def admin(self, *args):
        return subprocess.run([self.binary, "--config", self.config, *args],
                              check=True, capture_output=True).stdout

    def import_mbox(self, user, mailbox, path):
        self.admin("import", "--user", user, "--mailbox", mailbox, path)

    def stats(self):
        return json.loads(self.admin("--json", "stats"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- runs

def bench_tool(tool, server, *args, capture=True):
    cmd = [tool, "--port", str(server.imap_port), "--pop3-port", str(server.pop3_port),
           "--password", PASSWORD, "--json", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        server.check_alive(" ".join(args))
        raise SystemExit(f"{server.name}: {' '.join(cmd)}\n{out.stderr}")
    return {r["op"]: r for r in json.loads(out.stdout)["results"]}


def median(values):
    return statistics.median(values) if values else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


def print_table(title, header, rows):
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


def load_rounds(tool, servers, args, corpus_path, style):
    """The load phases with the bench tool's clients in `style`: "stock" (Nagle on, as stock
    mail clients) or "tuned" (TCP_NODELAY)."""
    ops = ("append,select,fetch_flags,fetch_envelope,fetch_bodystructure,fetch_body,"
           "fetch_partial,store,search_header,search_body,pop3_retr,idle")
    per = {s.name: {} for s in servers}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for server in order:
            log(f"load round {round_no + 1}/{args.rounds} on {server.name}, {style} clients")
            results = bench_tool(tool, server, "--client", style,
                                 "--user", "bench%d", "--users", str(args.connections),
                                 "load", "--ops", ops, "-k", str(args.connections),
                                 "-n", str(args.count), "--seconds", str(args.seconds),
                                 "--mbox", corpus_path)
            for op, r in results.items():
                per[server.name].setdefault(op, []).append(r)
    rows = []
    summary = {}
    for op in per["ours"]:
        ours, dove = per["ours"][op], per["dovecot"].get(op, [])
        if op == "idle_wakeup":
            o, d = median([r["p50_ms"] for r in ours]), median([r["p50_ms"] for r in dove])
            rows.append([op, f"p50 {o:.2f} ms", f"p50 {d:.2f} ms", f"{ratio(o, d):.2f} (latency)",
                         f"{median([r['p99_ms'] for r in ours]):.2f}",
                         f"{median([r['p99_ms'] for r in dove]):.2f}"])
            summary[op] = {"ours_p50_ms": o, "dovecot_p50_ms": d}
            continue
        o = median([r["ops_per_sec"] for r in ours])
        d = median([r["ops_per_sec"] for r in dove])
        op50 = median([r["p50_ms"] for r in ours])
        dp50 = median([r["p50_ms"] for r in dove])
        rows.append([op, f"{o:.0f}", f"{d:.0f}", f"{ratio(o, d):.2f}",
                     f"{op50:.2f} / {median([r['p99_ms'] for r in ours]):.2f}",
                     f"{dp50:.2f} / {median([r['p99_ms'] for r in dove]):.2f}"])
        summary[op] = {"ours_ops": o, "dovecot_ops": d, "ratio": ratio(o, d),
                       "ours_p50_ms": op50, "dovecot_p50_ms": dp50}
    print_table(f"Load, {style} clients: K={args.connections} connections, ≤{args.count} ops or ≤{args.seconds}s per "
                f"phase, median of {args.rounds} rounds",
                ["op", "ours ops/s", "Dovecot ops/s", "ratio ours/Dovecot",
                 "ours p50/p99 ms", "Dovecot p50/p99 ms"], rows)
    return summary


def imaplib_rounds(servers, args):
    """APPEND then FETCH BODY.PEEK[] with `bench_append_fetch.py` unchanged: Python's imaplib as
    it ships (Nagle on, a literal and its CRLF written apart), the client every stall hides from
    a tuned tool. Synthetic 4 KiB messages, K connections, the same count on both servers."""
    script = os.path.join(args.tools_dir, "bench_append_fetch.py")
    per = {s.name: {} for s in servers}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for server in order:
            log(f"imaplib round {round_no + 1}/{args.rounds} on {server.name}")
            out_path = os.path.join(tempfile.gettempdir(), f"imaplib-{server.name}.json")
            done = subprocess.run([sys.executable, script, "--port", str(server.imap_port),
                                   "--user", "bench0", "--password", PASSWORD,
                                   "-k", str(args.connections), "-n", str(args.count),
                                   "--mailbox-prefix", f"imaplib{round_no}",
                                   "--json", out_path], capture_output=True, text=True)
            if done.returncode != 0:
                server.check_alive("bench_append_fetch.py")
                raise SystemExit(f"{server.name}: bench_append_fetch.py failed\n"
                                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
            with open(out_path) as f:
                for phase in json.load(f)["phases"]:
                    per[server.name].setdefault(phase["phase"], []).append(phase)
    rows, summary = [], {}
    for phase in ("append", "fetch"):
        ours, dove = per["ours"].get(phase, []), per["dovecot"].get(phase, [])
        o = median([p["messages_per_s"] for p in ours])
        d = median([p["messages_per_s"] for p in dove])
        op50 = median([p["lat_ms_p50"] for p in ours])
        dp50 = median([p["lat_ms_p50"] for p in dove])
        rows.append([phase, f"{o:.0f}", f"{d:.0f}", f"{ratio(o, d):.2f}", f"{op50:.2f}",
                     f"{dp50:.2f}"])
        summary[phase] = {"ours_msg_s": o, "dovecot_msg_s": d, "ratio": ratio(o, d),
                          "ours_p50_ms": op50, "dovecot_p50_ms": dp50}
    print_table(f"Stock imaplib (bench_append_fetch.py): K={args.connections}, {args.count} "
                f"messages of 4 KiB, median of {args.rounds} rounds",
                ["phase", "ours msg/s", "Dovecot msg/s", "ratio ours/Dovecot", "ours p50 ms",
                 "Dovecot p50 ms"], rows)
    return summary


def logins(servers, args):
    """Connect, LOGIN and LOGOUT with stock imaplib, K clients in a loop for a few seconds:
    what a client that opens a connection per check (or imaptest's stress mix) pays."""
    import imaplib

    def client(port, user, stop_at, counts, index):
        done = 0
        while time.time() < stop_at:
            conn = imaplib.IMAP4("127.0.0.1", port)
            conn.login(user, PASSWORD)
            conn.logout()
            done += 1
        counts[index] = done

    per = {s.name: [] for s in servers}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for server in order:
            log(f"logins round {round_no + 1}/{args.rounds} on {server.name}")
            counts = [0] * args.connections
            started = time.time()
            stop_at = started + args.seconds
            threads = [threading.Thread(target=client, args=(server.imap_port, f"bench{i}",
                                                              stop_at, counts, i))
                       for i in range(args.connections)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            per[server.name].append(sum(counts) / (time.time() - started))
    o, d = median(per["ours"]), median(per["dovecot"])
    print_table(f"Logins with stock imaplib: K={args.connections} clients, connect + LOGIN + "
                f"LOGOUT for {args.seconds}s, median of {args.rounds} rounds",
                ["ours logins/s", "Dovecot logins/s", "ratio ours/Dovecot"],
                [[f"{o:.0f}", f"{d:.0f}", f"{ratio(o, d):.2f}"]])
    return {"ours_per_s": o, "dovecot_per_s": d, "ratio": ratio(o, d)}


def write_mbox(path, chunks, count):
    """An mbox of the corpus repeated to `count` messages."""
    with open(path, "wb") as f:
        for i in range(count):
            f.write(chunks[i % len(chunks)])


def free_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill_ours(ours, box, size, chunks, args, work):
    """Imports `size` messages of the repeated corpus into `box`. Sizes above
    --import-piece import one file of that many messages several times (the same messages
    in the same order), so the mbox on disk stays bounded."""
    piece = size
    if size > args.import_piece and size % args.import_piece == 0 \
            and args.import_piece % len(chunks) == 0:
        piece = args.import_piece
    path = os.path.join(work, f"{box}.mbox")
    write_mbox(path, chunks, piece)
    started = time.time()
    try:
        for _ in range(size // piece):
            ours.import_mbox("bench0", box, path)
    finally:
        os.unlink(path)
    return time.time() - started


def dovecot_fits(dove, size, messages, args):
    """Whether Dovecot gets a mailbox of `size`, and why not: --dovecot-max-size, and the
    disk its maildir (one copy of the corpus, the repeats hard links) and index need."""
    if size > args.dovecot_max_size:
        return f"above --dovecot-max-size {args.dovecot_max_size}"
    # Directory entries and index/cache records: about 1 KiB per message, generously.
    needed = sum(len(m) for m in messages) + size * 1024
    free = free_bytes(dove.dir)
    if free - needed < args.keep_free_gb * 2**30:
        return (f"needs ~{needed / 2**30:.1f} GiB; {free / 2**30:.1f} GiB free, "
                f"{args.keep_free_gb} GiB must stay free")
    return None


def scaling(tool, ours, dove, chunks, args, work):
    results = {}
    rows = []
    boxes = {"ours": [], "dovecot": []}
    per = {"ours": {}, "dovecot": {}}
    messages = [chunk_message(c) for c in chunks]
    for size in args.sizes:
        box = f"scale{size}"
        if free_bytes(work) < args.keep_free_gb * 2**30:
            log(f"skipping {box} and larger: under {args.keep_free_gb} GiB of disk free")
            results["skipped_from"] = size
            break
        ours_fill = fill_ours(ours, box, size, chunks, args, work)
        boxes["ours"].append(box)
        results[box] = {"ours_fill_s": ours_fill, "ours_msgs_per_s": size / ours_fill}
        log(f"filled {box} on ours: import {ours_fill:.1f}s ({size / ours_fill:.0f} msgs/s)")
        why_not = dovecot_fits(dove, size, messages, args)
        if why_not:
            log(f"{box} not filled on dovecot: {why_not}")
            results[box]["dovecot_skipped"] = why_not
        else:
            started = time.time()
            dove.fill("bench0", box, (messages[i % len(messages)] for i in range(size)),
                      link_repeats=True)
            results[box]["dovecot_fill_s"] = time.time() - started
            boxes["dovecot"].append(box)
            log(f"filled {box} on dovecot: maildir write {results[box]['dovecot_fill_s']:.1f}s")
        # Measured right after filling, so the sizes done survive a later failure.
        for server in (dove, ours):
            if box not in boxes[server.name]:
                continue
            started = time.time()
            measured = bench_tool(tool, server, "--user", "bench0", "scale", "--mailboxes", box,
                                  "--repeat", str(args.scale_repeat),
                                  "--seconds", str(args.seconds * 3))
            per[server.name].update(measured)
            results[box][f"{server.name}_scale_s"] = time.time() - started
            log(f"scale {box} on {server.name}: " + ", ".join(
                f"{name.split('/')[1]} {r['p50_ms']:.1f} ms" for name, r in measured.items()))
        # The next size would take about ten times this; stop when that does not fit.
        if size != args.sizes[-1] and ours_fill * 10 > args.fill_budget:
            log(f"skipping sizes after {size}: the next fill would take ~{ours_fill * 10:.0f}s "
                f"(budget {args.fill_budget}s)")
            results["skipped_after"] = size
            break
    for name in per["ours"]:
        o = per["ours"][name]["p50_ms"]
        d = per["dovecot"].get(name, {}).get("p50_ms")
        box = name.split("/")[0]
        size = int(box[len("scale"):])
        missing = "–"
        rows.append([name, f"{o:.2f}", missing if d is None else f"{d:.2f}",
                     missing if d is None else f"{ratio(o, d):.2f}",
                     f"{o * 1000 / size:.2f}", missing if d is None else f"{d * 1000 / size:.2f}"])
        results[name] = {"ours_p50_ms": o, "dovecot_p50_ms": d}
    print_table("Scaling: one connection, median latency (STATUS = every folder of the account)",
                ["mailbox/op", "ours p50 ms", "Dovecot p50 ms", "ratio ours/Dovecot (time)",
                 "ours µs/msg", "Dovecot µs/msg"], rows)
    fills = [[k, f"{v['ours_fill_s']:.1f}", f"{v['ours_msgs_per_s']:.0f}",
              f"{v['dovecot_fill_s']:.1f}" if "dovecot_fill_s" in v else v["dovecot_skipped"]]
             for k, v in results.items() if isinstance(v, dict) and "ours_fill_s" in v]
    print_table("Scaling fill time (ours: `wildduck import`, durable; Dovecot: maildir files "
                "written directly, repeats hard-linked, indexed at first SELECT)",
                ["mailbox", "ours s", "ours msgs/s", "Dovecot s"], fills)
    return results


def idle_memory(tool, servers, args, parallel):
    rows, results = [], {}
    for server in servers:
        before = memory_kib(server.pid)
        cmd = [tool, "--port", str(server.imap_port), "--password", PASSWORD,
               "--user", "bench%d", "--users", str(args.connections),
               "hold", "-k", str(args.idle_connections), "--parallel-logins", str(parallel),
               "--seconds", "8"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            proc.wait()
            raise SystemExit(f"{server.name}: hold failed: {line}")
        time.sleep(2)
        after = memory_kib(server.pid)
        proc.wait()
        n = args.idle_connections
        rss = (after[0] - before[0]) / n
        pss = (after[1] - before[1]) / n
        results[server.name] = {"rss_kib_per_conn": rss, "pss_kib_per_conn": pss,
                                "rss_before_kib": before[0], "rss_after_kib": after[0]}
        rows.append([server.name, f"{rss:.1f}", f"{pss:.1f}", f"{before[0]/1024:.1f}",
                     f"{after[0]/1024:.1f}"])
        log(f"idle memory {server.name}: {rss:.1f} KiB RSS/conn")
        time.sleep(2)
    print_table(f"Memory per idle authenticated IMAP connection ({args.idle_connections} connections, "
                f"{parallel} logins in flight at a time; process-tree sums)",
                ["server", "RSS KiB/conn", "PSS KiB/conn", "RSS before MiB", "RSS with conns MiB"], rows)
    return results


def big_append_memory(tool, servers, args):
    rows, results = [], {}
    for server in servers:
        time.sleep(1)
        base = rss_only_kib(server.pid)
        with PeakSampler(server.pid) as sampler:
            r = bench_tool(tool, server, "--user", "bench0", "big-append", "--size-mb",
                           str(args.big_mb), "--hold-seconds", "1")["append_big"]
        results[server.name] = {"base_kib": base, "peak_kib": sampler.peak,
                                "seconds": r["seconds"]}
        rows.append([server.name, f"{base/1024:.1f}", f"{sampler.peak/1024:.1f}",
                     f"{(sampler.peak - base)/1024:.1f}", f"{r['seconds']:.2f}"])
    print_table(f"APPEND of one {args.big_mb} MiB message (RSS sum of the server's process tree, "
                "sampled every 20 ms)",
                ["server", "RSS before MiB", "peak RSS MiB", "peak - before MiB", "APPEND s"], rows)
    return results


def storage(ours, dove, corpus_path, chunks):
    ours.import_mbox("bench0", "corpus", corpus_path)
    dove.fill("bench0", "corpus", (chunk_message(c) for c in chunks))
    raw = sum(len(chunk_message(c)) for c in chunks)
    stats = ours.stats()
    data_du = int(subprocess.check_output(["du", "-sb", ours.data]).split()[0])
    maildir = dove.stored_bytes("bench0", "corpus")
    mdbox = dove.mdbox_zstd_bytes("bench0")
    rows = [["corpus raw (LF line ends)", f"{raw}", "100%"],
            ["Dovecot maildir `du -sb`", f"{maildir}", f"{100 * maildir / raw:.1f}%"],
            ["Dovecot mdbox, zlib plugin saving zstd level 3 (`doveadm backup`), `du -sb`",
             "n/a" if mdbox is None else f"{mdbox}",
             "n/a" if mdbox is None else f"{100 * mdbox / raw:.1f}%"],
            ["ours `wildduck stats` stored bytes", f"{stats['stored_bytes']}",
             f"{100 * stats['stored_bytes'] / raw:.1f}%"],
            ["ours data dir `du -sb` (SQLite + WAL + indexes, whole store)", f"{data_du}",
             f"{100 * data_du / raw:.1f}%"]]
    print_table(f"Storage: the corpus ({len(chunks)} messages) in a fresh store",
                ["what", "bytes", "of raw"], rows)
    return {"raw": raw, "maildir": maildir, "mdbox_zstd": mdbox, "ours_stored": stats["stored_bytes"],
            "ours_data_du": data_du, "ours_stats": stats}


DISK_USERS = 10


def disk(binary, chunks, work):
    """The data directory after a multi-recipient delivery, as mail arrives: a fresh server of
    its own, DISK_USERS users; list mail (a List-Id header) to every user, other mail to 1-5
    of them (seeded), each message one LMTP transaction. The ratio is `du -sb` of the data
    dir after the server stopped over the raw bytes of every copy delivered (without the
    Delivered-To/Return-Path lines the server adds)."""
    import random
    import smtplib
    users = [f"disk{i}" for i in range(DISK_USERS)]
    ours = Ours(os.path.join(work, "disk"), binary, users)
    try:
        rng = random.Random(1)
        raw, copies, started = 0, 0, time.time()
        lmtp = smtplib.LMTP("127.0.0.1", ours.lmtp_port)
        lmtp.ehlo()  # LHLO
        for chunk in chunks:
            message = chunk_message(chunk).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            head = message.split(b"\r\n\r\n", 1)[0].lower()
            listed = b"\r\nlist-id:" in head or head.startswith(b"list-id:")
            rcpts = users if listed else rng.sample(users, rng.randint(1, 5))
            # LMTP answers DATA once per recipient; smtplib reads only the first answer.
            replies = [lmtp.mail("sender@elsewhere.test")]
            replies += [lmtp.rcpt(f"{u}@{MAIL_DOMAIN}") for u in rcpts]
            replies.append(lmtp.data(message))
            replies += [lmtp.getreply() for _ in rcpts[1:]]
            refused = [r for r in replies if r[0] != 250]
            if refused:
                raise SystemExit(f"LMTP refused: {refused}")
            raw += len(message) * len(rcpts)
            copies += len(rcpts)
        lmtp.quit()
        seconds = time.time() - started
        stats = ours.stats()
        running_du = int(subprocess.check_output(["du", "-sb", ours.data]).split()[0])
    finally:
        ours.stop()
    stopped_du = int(subprocess.check_output(["du", "-sb", ours.data]).split()[0])
    wal = os.path.join(ours.data, "store.sqlite-wal")
    wal_bytes = os.path.getsize(wal) if os.path.exists(wal) else 0
    rows = [["raw bytes delivered (every copy)", f"{raw}", "100%"],
            ["ours `wildduck stats` stored bytes", f"{stats['stored_bytes']}",
             f"{100 * stats['stored_bytes'] / raw:.1f}%"],
            ["ours data dir `du -sb`, server running", f"{running_du}",
             f"{100 * running_du / raw:.1f}%"],
            ["ours data dir `du -sb` after stop", f"{stopped_du}", f"{100 * stopped_du / raw:.1f}%"],
            ["of which WAL after stop", f"{wal_bytes}", f"{100 * wal_bytes / raw:.1f}%"]]
    print_table(f"Disk: {len(chunks)} messages delivered over LMTP as {copies} copies to "
                f"{DISK_USERS} users ({seconds:.1f} s)", ["what", "bytes", "of raw"], rows)
    return {"raw": raw, "copies": copies, "stored": stats["stored_bytes"],
            "running_du": running_du, "stopped_du": stopped_du, "wal_after_stop": wal_bytes,
            "deliver_seconds": seconds}


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def lmtp_delivery(servers, users, chunks, args):
    """LMTP delivery with stock smtplib: K connections, each transaction one corpus message to
    one user, then to all ten (LMTP_USERS); copies/s, messages/s and latency per server, and
    what a 10-recipient message costs over a 1-recipient one."""
    messages = [smtp_load.crlf(chunk_message(chunk)) for chunk in chunks]
    shapes = {1: lambda n: [f"{users[n % len(users)]}@{MAIL_DOMAIN}"],
              len(users): lambda n: [f"{user}@{MAIL_DOMAIN}" for user in users]}
    per = {(s.name, r): [] for s in servers for r in shapes}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for server in order:
            for rcpts, recipients in shapes.items():
                log(f"lmtp round {round_no + 1}/{args.rounds} on {server.name}, {rcpts} recipient(s)")
                latencies, wall = smtp_load.lmtp_phase(server.lmtp_port, messages, recipients,
                                                       args.connections, args.count, args.seconds)
                server.check_alive("LMTP")
                per[(server.name, rcpts)].append((len(latencies) / wall, median(latencies),
                                                  percentile(latencies, 0.99)))
    rows, summary = [], {}
    for rcpts in shapes:
        o = [median([r[i] for r in per[("ours", rcpts)]]) for i in range(3)]
        d = [median([r[i] for r in per[("dovecot", rcpts)]]) for i in range(3)]
        rows.append([str(rcpts), f"{o[0]:.0f} / {o[0] * rcpts:.0f}", f"{d[0]:.0f} / {d[0] * rcpts:.0f}",
                     f"{ratio(o[0], d[0]):.2f}", f"{o[1] * 1000:.2f} / {o[2] * 1000:.2f}",
                     f"{d[1] * 1000:.2f} / {d[2] * 1000:.2f}"])
        summary[rcpts] = {"ours_msgs": o[0], "dovecot_msgs": d[0], "ratio": ratio(o[0], d[0]),
                          "ours_p50_ms": o[1] * 1000, "dovecot_p50_ms": d[1] * 1000}
    many = len(users)
    cost = {name: summary[many][f"{name}_p50_ms"] / summary[1][f"{name}_p50_ms"]
            for name in ("ours", "dovecot")}
    rows.append([f"{many} over 1 (p50 cost)", f"{cost['ours']:.2f}x", f"{cost['dovecot']:.2f}x", "", "", ""])
    print_table(f"LMTP delivery with stock smtplib: K={args.connections} connections, "
                f"≤{args.count} messages or ≤{args.seconds}s per phase, median of {args.rounds} rounds",
                ["recipients", "ours messages/s / copies/s", "Dovecot messages/s / copies/s",
                 "ratio ours/Dovecot", "ours p50/p99 ms", "Dovecot p50/p99 ms"], rows)
    summary["cost_many_over_one"] = cost
    return summary


def submission(servers, sinks, users, chunks, args):
    """SMTP submission with stock smtplib (AUTH PLAIN on loopback): K clients, each logged in
    as one user, send corpus messages to remote recipients; each server relays to its own
    sink. Accepted/s counts the 250s; relayed/s the messages at the sink over the time from
    the first submission to the last arrival. Ours also files every message in Sent Mail;
    Dovecot's submission service only relays (it answers once the sink has)."""
    messages = [chunk_message(chunk) for chunk in chunks]
    accounts = [(user, f"{user}@{MAIL_DOMAIN}") for user in users]
    per = {s.name: [] for s in servers}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for server in order:
            log(f"submission round {round_no + 1}/{args.rounds} on {server.name}")
            sink = sinks[server.name]
            sink.reset()
            started = time.time()
            latencies, wall = smtp_load.submission_phase(server.submission_port, accounts, PASSWORD,
                                                         messages, args.connections, args.count,
                                                         args.seconds)
            last = sink.wait_for(len(latencies), 120)
            server.check_alive("submission")
            if last is None:
                raise SystemExit(f"{server.name}: {sink.count} of {len(latencies)} submitted "
                                 f"messages reached the sink within 120 s")
            per[server.name].append((len(latencies) / wall, len(latencies) / (last - started),
                                     median(latencies), percentile(latencies, 0.99)))
    o = [median([r[i] for r in per["ours"]]) for i in range(4)]
    d = [median([r[i] for r in per["dovecot"]]) for i in range(4)]
    rows = [["accepted messages/s", f"{o[0]:.0f}", f"{d[0]:.0f}", f"{ratio(o[0], d[0]):.2f}"],
            ["relayed to the sink, messages/s", f"{o[1]:.0f}", f"{d[1]:.0f}", f"{ratio(o[1], d[1]):.2f}"],
            ["latency p50 / p99 ms", f"{o[2] * 1000:.2f} / {o[3] * 1000:.2f}",
             f"{d[2] * 1000:.2f} / {d[3] * 1000:.2f}", ""]]
    print_table(f"SMTP submission with stock smtplib: K={args.connections} clients, ≤{args.count} "
                f"messages or ≤{args.seconds}s, median of {args.rounds} rounds",
                ["", "ours", "Dovecot submission", "ratio ours/Dovecot"], rows)
    return {"ours_accepted": o[0], "dovecot_accepted": d[0], "ours_relayed": o[1],
            "dovecot_relayed": d[1], "ours_p50_ms": o[2] * 1000, "dovecot_p50_ms": d[2] * 1000}


def api_message():
    """A ~50 KB message as webmail shows them: text and HTML alternatives and a PDF-like
    attachment."""
    paragraph = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
                 "tempor incididunt ut labore et dolore magna aliqua. ")
    text = "\r\n".join(paragraph for _ in range(120))
    html = "<html><body>" + "".join(f"<p>{paragraph}</p>\r\n" for _ in range(120)) + "</body></html>"
    import base64
    attachment = base64.encodebytes(bytes(range(256)) * 40).decode().replace("\n", "\r\n")
    return (f"From: Alice <alice@bench.test>\r\nTo: bench0@bench.test\r\n"
            f"Subject: a parsed message\r\nMessage-ID: <api-bench@bench.test>\r\n"
            f"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
            f"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
            f"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
            f"--inner--\r\n--outer\r\nContent-Type: application/pdf; name=report.pdf\r\n"
            f"Content-Disposition: attachment; filename=report.pdf\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{attachment}--outer--\r\n").encode()


def api_reads(ours, chunks, args, work):
    """The webmail's two hot reads over the HTTP API with Python's stock http.client (one
    kept-alive connection): a page of 250 listing rows, every page of a big mailbox in turn
    by its `next` cursor, and GET of one parsed ~50 KB message; p50/p99 against the issue's
    goals (page ≤ 10 ms, message ≤ 2 ms). Ours only: WildDuck itself needs MongoDB and Redis."""
    import http.client
    size = args.api_size
    log(f"api: filling a mailbox of {size} messages")
    fill_ours(ours, "api", size, chunks, args, work)
    one = os.path.join(work, "api-message.mbox")
    write_mbox(one, [b"From bench Mon Dec  7 10:00:00 2026\n" + api_message().replace(b"\r\n", b"\n") + b"\n"], 1)
    ours.import_mbox("bench0", "api-message", one)
    connection = http.client.HTTPConnection("127.0.0.1", ours.api_port)

    def get(path):
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
        return json.loads(body)

    user = get("/users/resolve/bench0")["id"]
    boxes = {box["path"]: box["id"] for box in get(f"/users/{user}/mailboxes")["results"]}
    listing = f"/users/{user}/mailboxes/{boxes['api']}/messages?limit=250"
    page_ms, cursor, pages = [], None, 0
    deadline = time.time() + args.seconds * 2
    while time.time() < deadline and pages < 400:
        began = time.perf_counter()
        page = get(listing + (f"&next={cursor}" if cursor else ""))
        page_ms.append((time.perf_counter() - began) * 1000)
        assert len(page["results"]) == 250 or not page.get("nextCursor"), page.keys()
        cursor = page.get("nextCursor") or None
        pages += 1
    messages = get(f"/users/{user}/mailboxes/{boxes['api-message']}/messages")["results"]
    parsed = f"/users/{user}/mailboxes/{boxes['api-message']}/messages/{messages[0]['id']}"
    size_kb = len(api_message()) / 1024
    message_ms = []
    deadline = time.time() + args.seconds
    while time.time() < deadline and len(message_ms) < 2000:
        began = time.perf_counter()
        message = get(parsed)
        message_ms.append((time.perf_counter() - began) * 1000)
    assert message["attachments"] and message["html"], message.keys()
    connection.close()
    rows = [[f"page of 250 rows, {size} messages ({pages} pages)", f"{median(page_ms):.2f}",
             f"{percentile(page_ms, 0.99):.2f}", "10"],
            [f"parsed message, {size_kb:.0f} KB ({len(message_ms)} GETs)", f"{median(message_ms):.2f}",
             f"{percentile(message_ms, 0.99):.2f}", "2"]]
    print_table("HTTP API reads with Python's http.client (one kept-alive connection)",
                ["read", "p50 ms", "p99 ms", "goal ms"], rows)
    return {"size": size, "page_p50_ms": median(page_ms), "page_p99_ms": percentile(page_ms, 0.99),
            "message_p50_ms": median(message_ms), "message_p99_ms": percentile(message_ms, 0.99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a run under 3 minutes")
    ap.add_argument("--wildduck", default=os.path.join(REPO, "target/release/wildduck"))
    ap.add_argument("--tool", default=os.path.join(REPO, "target/release/wildduck-bench"))
    ap.add_argument("--tools-dir", default=os.environ.get(
        "WILDDUCK_TOOLS", os.path.join(REPO, "tests/tools")))
    ap.add_argument("--corpus-cache", default=os.path.expanduser("~/.cache/wildduck-bench"))
    ap.add_argument("--json-out", help="write every number as JSON here")
    ap.add_argument("--only", default="storage,disk,imaplib,load,scale,bigappend,memory,logins,"
                    "lmtp,submission,api",
                    help="comma-separated parts to run")
    ap.add_argument("--fill-budget", type=float,
                    help="seconds a scaling mailbox may take to fill (default 240, 0 with --quick)")
    ap.add_argument("--sizes", help="scaling mailbox sizes, comma-separated "
                    "(default 1000,10000,100000; 1000 with --quick)")
    ap.add_argument("--dovecot-max-size", type=int, default=10**9,
                    help="largest scaling mailbox Dovecot gets (default: all that fit the disk)")
    ap.add_argument("--import-piece", type=int, default=100000,
                    help="larger scaling mailboxes import an mbox of this many messages "
                         "several times (bounds the file on disk)")
    ap.add_argument("--keep-free-gb", type=float, default=8,
                    help="scaling fills stop before the disk has less than this free")
    args = ap.parse_args()
    quick = args.quick
    args.messages = 300 if quick else 1000
    args.rounds = 1 if quick else 3
    args.connections = 4
    args.count = 400 if quick else 2000
    args.seconds = 3.0 if quick else 6.0
    if args.sizes:
        args.sizes = [int(size) for size in args.sizes.split(",")]
    else:
        args.sizes = [1000] if quick else [1000, 10000, 100000]
    if args.fill_budget is None:
        args.fill_budget = 0 if quick else 240
    args.scale_repeat = 5
    args.api_size = 10000 if quick else 100000
    args.idle_connections = 1000
    args.big_mb = 50
    parts = set(args.only.split(","))

    os.makedirs(args.corpus_cache, exist_ok=True)
    corpus_path = os.path.join(args.corpus_cache, f"corpus-{args.messages}-seed1.mbox")
    if not os.path.exists(corpus_path):
        log(f"generating {corpus_path}")
        subprocess.run([sys.executable, os.path.join(args.tools_dir, "gen_mbox.py"), "-n",
                        str(args.messages), "--seed", "1", "-o", corpus_path + ".tmp"], check=True)
        os.rename(corpus_path + ".tmp", corpus_path)
    chunks = split_mbox(corpus_path)

    work = tempfile.mkdtemp(prefix="wildduck-bench-")
    os.chmod(work, 0o755)
    users = [f"bench{i}" for i in range(args.connections)]
    # LMTP recipients: ten, so that one message to all of them can be set against one to one.
    lmtp_users = [f"lmtp{i}" for i in range(10)]
    servers = []
    sinks = {}
    results = {"quick": quick, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "nproc": os.cpu_count()}
    started = time.time()
    try:
        # First, alone: its server uses the same default ports (API, submission) as `ours`.
        if "disk" in parts:
            results["disk"] = disk(args.wildduck, chunks, work)
        sinks = {name: smtp_load.Sink(free_port()) for name in ("dovecot", "ours")}
        dove = Dovecot(work, users + lmtp_users, sinks["dovecot"].port)
        servers.append(dove)
        ours = Ours(work, args.wildduck, users + lmtp_users, sinks["ours"].port)
        servers.append(ours)
        log(f"dovecot imap {dove.imap_port} pop3 {dove.pop3_port}; "
            f"ours imap {ours.imap_port} pop3 {ours.pop3_port}; work dir {work}")
        if "storage" in parts:
            results["storage"] = storage(ours, dove, corpus_path, chunks)
        if "imaplib" in parts:
            results["imaplib"] = imaplib_rounds([ours, dove], args)
        if "load" in parts:
            results["load"] = {style: load_rounds(args.tool, [ours, dove], args, corpus_path, style)
                               for style in ("stock", "tuned")}
        if "scale" in parts:
            results["scale"] = scaling(args.tool, ours, dove, chunks, args, work)
        if "bigappend" in parts:
            results["big_append"] = big_append_memory(args.tool, [ours, dove], args)
        if "memory" in parts:
            results["idle_memory"] = idle_memory(args.tool, [ours, dove], args, 4)
        if "logins" in parts:
            results["logins"] = logins([ours, dove], args)
        if "lmtp" in parts:
            results["lmtp"] = lmtp_delivery([ours, dove], lmtp_users, chunks, args)
        if "submission" in parts:
            results["submission"] = submission([ours, dove], sinks, users, chunks, args)
        if "api" in parts:
            results["api"] = api_reads(ours, chunks, args, work)
    finally:
        for server in servers:
            server.stop()
        for sink in sinks.values():
            sink.stop()
        if not os.environ.get("KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = time.time() - started
    log(f"done in {results['seconds']:.0f}s")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
