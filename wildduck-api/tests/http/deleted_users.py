"""Deferred user deletion (`DELETE /users/:user?deleteAfter=`) and restore: the account is
gone from logins, listings and address lookups at once, its mail stays, and a restore brings
it back with every address no one took meanwhile."""

import base64
from datetime import datetime, timedelta, timezone

from client import MISSING, call, create_user, expect, user_token

later = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

dora = create_user("dora", "dora@example.com")
expect("POST", f"/users/{dora}/addresses", 200, body={"address": "dora.second@example.com"})
inbox = [m for m in expect("GET", f"/users/{dora}/mailboxes", 200)["results"] if m["path"] == "INBOX"][0]["id"]
raw = b"From: a@example.org\r\nTo: dora@example.com\r\nSubject: kept\r\n\r\nstill here\r\n"
expect("POST", f"/users/{dora}/mailboxes/{inbox}/messages", 200, body={"raw": base64.b64encode(raw).decode()})
token = user_token("dora")

# Only root deletes; a date that is not one is refused and changes nothing.
expect("DELETE", f"/users/{dora}?deleteAfter={later}", 403, "MissingPrivileges", token=token)
expect("DELETE", f"/users/{dora}?deleteAfter=someday", 400, "InputValidationError")
expect("GET", f"/users/{dora}/restore", 404, "AccountNotFound")
expect("DELETE", f"/users/{MISSING}?deleteAfter={later}", 404, "UserNotFound")

deleted = expect("DELETE", f"/users/{dora}?deleteAfter={later}", 200)
assert deleted["code"] == "TaskScheduled" and deleted["user"] == dora, deleted
assert deleted["addresses"]["deleted"] == 2 and len(deleted["task"]) == 24, deleted
assert deleted["deleteAfter"] == later, deleted

# Gone for logins, tokens, listings and lookups.
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "dora", "password": "secret-dora"})
expect("POST", "/authenticate", 403, "AuthFailed", body={"username": "dora@example.com", "password": "secret-dora"})
expect("GET", f"/users/{dora}", 403, token=token)
expect("GET", f"/users/{dora}", 404, "UserNotFound")
expect("GET", "/users/resolve/dora", 404, "UserNotFound")
expect("GET", "/addresses/resolve/dora@example.com", 404, "AddressNotFound")
assert all(u["id"] != dora for u in expect("GET", "/users", 200)["results"])
expect("DELETE", f"/users/{dora}?deleteAfter={later}", 404, "UserNotFound")
# The username stays reserved until the purge (so a restore can not collide).
expect("POST", "/users", 400, "UserExistsError", body={"username": "dora", "password": "x1"})

info = expect("GET", f"/users/{dora}/restore", 200)
assert info["username"] == "dora" and info["user"] == dora, info
assert sorted(info["recoverableAddresses"]) == ["dora.second@example.com", "dora@example.com"], info
assert info["storageUsed"] == len(raw) and info["tags"] == [], info
assert info["deleted"].endswith("Z"), info

# A released address may go to someone else; it is then not recoverable.
create_user("eve", "dora.second@example.com")
info = expect("GET", f"/users/{dora}/restore", 200)
assert info["recoverableAddresses"] == ["dora@example.com"], info

restored = expect("POST", f"/users/{dora}/restore", 200, body={})
assert restored["code"] == "TaskCancelled" and restored["task"] == deleted["task"], restored
assert restored["addresses"] == {"recovered": 1, "main": "dora@example.com"}, restored
shown = expect("GET", f"/users/{dora}", 200)
assert shown["address"] == "dora@example.com" and shown["username"] == "dora", shown
assert expect("GET", "/addresses/resolve/dora@example.com", 200)["user"] == dora
assert expect("GET", "/addresses/resolve/dora.second@example.com", 200)["user"] != dora
messages = expect("GET", f"/users/{dora}/mailboxes/{inbox}/messages", 200)["results"]
assert [m["subject"] for m in messages] == ["kept"], messages
user_token("dora")
expect("GET", f"/users/{dora}/restore", 404, "AccountNotFound")
expect("POST", f"/users/{dora}/restore", 404, "AccountNotFound", body={})

# Deleting without a date (or with one past) deletes at once: nothing to restore.
gone = expect("DELETE", f"/users/{dora}", 200)
assert gone["addresses"]["deleted"] == 1 and "task" not in gone, gone
expect("GET", f"/users/{dora}/restore", 404, "AccountNotFound")
status, _ = call("GET", f"/users/{dora}")
assert status == 404, status
