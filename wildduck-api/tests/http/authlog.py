"""GET /users/:user/authlog and /users/:user/authlog/:event: every POST /authenticate is
logged with the `protocol`, `sess` and `ip` the caller gives, listed newest first in pages
that walk without gaps or repeats, narrowed by `action` and `filterip`; a user token reads
its own log only; bad ids, cursors and addresses are input errors."""

import time

from client import MISSING, create_user, expect, user_token

ivy = create_user("ivy")
jon = create_user("jon")

attempts = [
    ({"password": "secret-ivy", "ip": "192.0.2.1", "sess": "s-1", "protocol": "Webmail"}, 200),
    ({"password": "wrong", "ip": "192.0.2.2"}, 403),
    ({"password": "wrong", "ip": "2001:db8::7"}, 403),
    ({"password": "secret-ivy", "scope": "imap"}, 200),
    ({"password": "secret-ivy", "ip": "192.0.2.1"}, 200),
]
for fields, status in attempts:
    expect("POST", "/authenticate", status, body={"username": "ivy", **fields})
expect("POST", "/authenticate", 400, "InputValidationError",
       body={"username": "ivy", "password": "wrong", "ip": "not an address"})

# Written beside the logins: wait for them a while.
deadline = time.monotonic() + 30
listing = expect("GET", f"/users/{ivy}/authlog", 200)
while listing["total"] < len(attempts) and time.monotonic() < deadline:
    time.sleep(0.1)
    listing = expect("GET", f"/users/{ivy}/authlog", 200)
assert listing["total"] == len(attempts), listing
events = listing["results"]
assert [e["result"] for e in events] == ["success", "success", "fail", "fail", "success"], events
first = events[-1]
assert first["protocol"] == "Webmail" and first["sess"] == "s-1" and first["ip"] == "192.0.2.1", first
assert first["action"] == "authentication" and first["requiredScope"] == "master", first
assert first["source"] == "master" and first["events"] == 1 and first["last"] == first["created"], first
assert events[1]["protocol"] == "API" and events[1]["requiredScope"] == "imap", events[1]
assert events[2]["reason"] == "bad credentials" and "source" not in events[2], events[2]
for event in events:
    assert "password" not in event and "secret-ivy" not in str(event), event

# Paging: two at a time, forwards then back.
seen = []
page = expect("GET", f"/users/{ivy}/authlog?limit=2", 200)
assert page["previousCursor"] is False, page
while True:
    seen += [e["id"] for e in page["results"]]
    if page["nextCursor"] is False:
        break
    page = expect("GET", f"/users/{ivy}/authlog?limit=2&next={page['nextCursor']}", 200)
assert seen == [e["id"] for e in events], (seen, events)
back = expect("GET", f"/users/{ivy}/authlog?limit=2&previous={page['previousCursor']}", 200)
assert [e["id"] for e in back["results"]] == seen[2:4], back

# Filters.
by_ip = expect("GET", f"/users/{ivy}/authlog?filterip=192.0.2.1", 200)
assert by_ip["total"] == 2 and all(e["ip"] == "192.0.2.1" for e in by_ip["results"]), by_ip
v6 = expect("GET", f"/users/{ivy}/authlog?filterip=2001:db8::7", 200)
assert v6["total"] == 1, v6
by_action = expect("GET", f"/users/{ivy}/authlog?action=check%202fa%20totp", 200)
assert by_action["total"] == 0 and by_action["action"] == "check 2fa totp", by_action
expect("GET", f"/users/{ivy}/authlog?filterip=nope", 400, "InputValidationError")
expect("GET", f"/users/{ivy}/authlog?limit=0", 400, "InputValidationError")
expect("GET", f"/users/{ivy}/authlog?next=zz", 400, "InputValidationError")

# One event; only under its own user.
one = expect("GET", f"/users/{ivy}/authlog/{first['id']}", 200)
assert {k: v for k, v in one.items() if k != "success"} == first, (one, first)
expect("GET", f"/users/{jon}/authlog/{first['id']}", 404, "EventNotFound")
expect("GET", f"/users/{ivy}/authlog/{MISSING}", 404, "EventNotFound")
expect("GET", f"/users/{ivy}/authlog/xyz", 400, "InputValidationError")
expect("GET", f"/users/{MISSING}/authlog", 404, "UserNotFound")
assert expect("GET", f"/users/{jon}/authlog", 200)["total"] == 0

# A user reads their own log, not another's.
token = user_token("jon")
expect("GET", f"/users/{jon}/authlog", 200, token=token)
expect("GET", "/users/me/authlog", 200, token=token)
expect("GET", f"/users/{ivy}/authlog", 403, "MissingPrivileges", token=token)
expect("GET", f"/users/{ivy}/authlog", 403, "InvalidToken", token=None)
print("authlog routes as WildDuck's")
