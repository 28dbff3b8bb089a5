"""SMTP-side load for bench/run.py: LMTP delivery and SMTP submission with Python's stock
smtplib (Nagle on, as MTAs' and mail clients' libraries leave it), and an SMTP sink that
stands for the smarthost behind a submission server.

Every phase is bounded by a count and a time, and returns the per-transaction latencies
and the wall time, so the caller computes throughput and percentiles the same way for
every server.
"""

import smtplib
import threading
import time


class Sink:
    """An SMTP server on a loopback port (aiosmtpd) that accepts everything and counts the
    messages it receives; `wait_for(n)` blocks until n arrived and tells when the last did."""

    def __init__(self, port):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise SystemExit("the SMTP sink needs aiosmtpd: pip install aiosmtpd")
        sink = self
        self.count = 0
        self.last_at = None
        self.changed = threading.Condition()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.changed:
                    sink.count += 1
                    sink.last_at = time.time()
                    sink.changed.notify_all()
                return "250 OK"

        self.port = port
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()

    def reset(self):
        with self.changed:
            self.count, self.last_at = 0, None

    def wait_for(self, count, seconds):
        """The time the count-th message arrived, or None if it did not within `seconds`."""
        deadline = time.time() + seconds
        with self.changed:
            while self.count < count:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.last_at

    def stop(self):
        self.controller.stop()


def crlf(message):
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def with_sender(message, address):
    """The message with its From header fields replaced by `address` (a submission server
    accepts only its user's own From)."""
    head, _, body = crlf(message).partition(b"\r\n\r\n")
    kept, skipping = [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(b"from:")
        if not skipping:
            kept.append(line)
    return b"\r\n".join([b"From: " + address.encode()] + kept) + b"\r\n\r\n" + body


def run_clients(clients, count, seconds, transaction):
    """Runs `clients` threads; client i makes transactions i, i + clients, … until `count`
    were made in all or `seconds` passed. `transaction(client, n, state)` does one and
    returns nothing; `state` is the client's own (its connection). Returns (latencies in
    seconds, wall seconds)."""
    latencies = [[] for _ in range(clients)]
    states = [dict() for _ in range(clients)]
    start_at = time.time()
    stop_at = start_at + seconds

    def client(index):
        for n in range(index, count, clients):
            if time.time() >= stop_at:
                break
            began = time.perf_counter()
            transaction(index, n, states[index])
            latencies[index].append(time.perf_counter() - began)
        connection = states[index].get("connection")
        if connection is not None:
            connection.quit()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [latency for per_client in latencies for latency in per_client], time.time() - start_at


def lmtp_phase(port, messages, recipients, clients, count, seconds):
    """LMTP deliveries: each transaction one message of `messages` (in turn) to
    `recipients(n)`, every recipient's reply checked."""

    def deliver(index, n, state):
        if "connection" not in state:
            state["connection"] = smtplib.LMTP("127.0.0.1", port)
            state["connection"].ehlo()  # LHLO
        lmtp = state["connection"]
        rcpts = recipients(n)
        replies = [lmtp.mail("sender@elsewhere.test")]
        replies += [lmtp.rcpt(rcpt) for rcpt in rcpts]
        # LMTP answers DATA once per recipient; smtplib reads only the first answer.
        replies.append(lmtp.data(messages[n % len(messages)]))
        replies += [lmtp.getreply() for _ in rcpts[1:]]
        refused = [reply for reply in replies if reply[0] != 250]
        if refused:
            raise SystemExit(f"LMTP on port {port} refused: {refused}")

    return run_clients(clients, count, seconds, deliver)


def submission_phase(port, users, password, messages, clients, count, seconds):
    """SMTP submission: client i logs in as users[i] (AUTH PLAIN on loopback) once and sends
    messages of `messages` in turn, each from its user to one remote recipient."""

    def submit(index, n, state):
        user, address = users[index]
        if "connection" not in state:
            state["connection"] = smtplib.SMTP("127.0.0.1", port)
            state["connection"].login(user, password)
        refused = state["connection"].sendmail(address, [f"rcpt{n}@remote.test"],
                                               with_sender(messages[n % len(messages)], address))
        if refused:
            raise SystemExit(f"submission on port {port} refused: {refused}")

    return run_clients(clients, count, seconds, submit)
