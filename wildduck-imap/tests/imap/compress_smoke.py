#!/usr/bin/env python3
"""Runs the shared imap_smoke.py flow with every logged-in connection switched to
COMPRESS=DEFLATE (RFC 4978) right after LOGIN, using Python's zlib for raw DEFLATE.

Usage: compress_smoke.py SMOKE_SCRIPT --host 127.0.0.1 --port N --user U --password P [--tls]
Prints the smoke lines, then "COMPRESS <n> connections" and exits non-zero on any failure.
"""

import importlib.util
import imaplib
import ssl
import sys
import types
import zlib

smoke_path = sys.argv.pop(1)
use_tls = "--tls" in sys.argv
if use_tls:
    sys.argv.remove("--tls")

spec = importlib.util.spec_from_file_location("imap_smoke", smoke_path)
smoke = importlib.util.module_from_spec(spec)
spec.loader.exec_module(smoke)

imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
compressed_connections = []
Base = imaplib.IMAP4_SSL if use_tls else imaplib.IMAP4


class DeflateIMAP4(Base):
    """imaplib with COMPRESS DEFLATE after login: send/read/readline go through zlib."""

    def __init__(self, host, port, timeout=None):
        self._deflate = None
        if use_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the test server's self-signed certificate
            super().__init__(host, port, ssl_context=context, timeout=timeout)
        else:
            super().__init__(host, port, timeout=timeout)

    def login(self, user, password):
        result = super().login(user, password)
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ != "OK":
            raise self.error(f"COMPRESS refused: {data}")
        self._deflate = zlib.compressobj(wbits=-15)
        self._inflate = zlib.decompressobj(wbits=-15)
        self._plain = b""
        # A second COMPRESS, now through the deflate stream, must be refused.
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ != "NO" or b"[COMPRESSIONACTIVE]" not in data[0]:
            raise AssertionError(f"second COMPRESS: {typ} {data}")
        compressed_connections.append(self)
        return result

    def send(self, data):
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        super().send(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise self.abort("socket closed in the deflate stream")
        self._plain += self._inflate.decompress(chunk)

    def read(self, size):
        if self._deflate is None:
            return super().read(size)
        while len(self._plain) < size:
            self._fill()
        data, self._plain = self._plain[:size], self._plain[size:]
        return data

    def readline(self):
        if self._deflate is None:
            return super().readline()
        while b"\n" not in self._plain:
            if len(self._plain) > imaplib._MAXLINE:
                raise self.error("line too long")
            self._fill()
        end = self._plain.index(b"\n") + 1
        line, self._plain = self._plain[:end], self._plain[end:]
        return line


# The smoke script sees an imaplib whose IMAP4 is ours (imaplib itself stays untouched:
# IMAP4_SSL calls IMAP4.__init__ through it).
proxy = types.ModuleType("imaplib")
proxy.__dict__.update(imaplib.__dict__)
proxy.IMAP4 = DeflateIMAP4
smoke.imaplib = proxy
try:
    smoke.main()
except SystemExit as exit_status:
    print(f"COMPRESS {len(compressed_connections)} connections", flush=True)
    sys.exit(exit_status.code if exit_status.code else (0 if compressed_connections else 1))
