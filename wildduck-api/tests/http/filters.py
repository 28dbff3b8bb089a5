"""Filters and the autoreply: create, list, get, update, delete, bad input, and user-token isolation."""

from client import MISSING, create_user, expect, user_token

gail = create_user("gail")
hank = create_user("hank")
path = f"/users/{gail}/filters"
mailboxes = expect("GET", f"/users/{gail}/mailboxes", 200)["results"]
junk = next(m["id"] for m in mailboxes if m["path"] == "Junk")
hanks_inbox = next(m["id"] for m in expect("GET", f"/users/{hank}/mailboxes", 200)["results"] if m["path"] == "INBOX")

# Bad input is refused and creates nothing.
for body, key in [
    ({"action": {"seen": True}}, "query"),
    ({"query": {"from": "a"}}, "action"),
    ({"query": "from a", "action": {}}, "query"),
    ({"query": {"from": "x" * 256}, "action": {}}, "query.from"),
    ({"query": {"size": "big"}, "action": {}}, "query.size"),
    ({"query": {}, "action": {"seen": "maybe"}}, "action.seen"),
    ({"query": {}, "action": {"mailbox": "123"}}, "action.mailbox"),
    ({"name": "x" * 256, "query": {}, "action": {}}, "name"),
    ({"query": {}, "action": {}, "metaData": "not json"}, "metaData"),
]:
    refused = expect("POST", path, 400, "InputValidationError", body=body)
    assert key in refused["details"], (body, refused)
refused = expect("POST", path, 400, "InputValidationError", body={"query": {}, "action": {"targets": ["ftp://x"]}})
assert refused["error"] == 'Unknown target type "ftp://x"', refused
expect("POST", path, 404, "NoSuchMailbox", body={"query": {}, "action": {"mailbox": hanks_inbox}})
expect("POST", f"/users/{MISSING}/filters", 404, "UserNotFound", body={"query": {}, "action": {}})
assert expect("GET", path, 200)["results"] == []

# Created in order; the listing words queries and actions as WildDuck does.
first = expect("POST", path, 200, body={
    "name": "junk the pest",
    "query": {"from": "  pest@example.org ", "subject": "offer   now", "ha": True, "size": -2000},
    "action": {"spam": True, "seen": False, "mailbox": junk},
    "metaData": {"team": "ops"},
})["id"]
second = expect("POST", path, 200, body={
    "query": {"text": "invoice OR receipt", "listId": "news.example.org"},
    "action": {"flag": "yes", "targets": ["books@example.net", "https://hooks.example.com/in?x=1"]},
})["id"]
listing = expect("GET", path, 200)
assert listing["limits"] == {"allowed": 400, "used": 2}, listing
one, two = listing["results"]
assert [one["id"], two["id"]] == [first, second], listing
assert one["query"] == [["from", "(pest@example.org)"], ["subject", "(offer now)"], ["has attachment"], ["smaller", "2000"]], one
assert one["action"] == [["do not mark as read"], ["mark it as spam"], ["move to folder", '"Junk"']], one
assert two["query"] == [["listId", "(news.example.org)"], ['"invoice OR receipt"']], two
assert two["action"] == [["flag it"], ["forward to", "books@example.net, hooks.example.com"]], two
assert one["disabled"] is False and "metaData" not in one and one["created"].endswith("Z"), one
assert expect("GET", path + "?metaData=true", 200)["results"][0]["metaData"] == {"team": "ops"}

got = expect("GET", f"{path}/{first}", 200)
assert got["query"] == {"from": "pest@example.org", "subject": "offer now", "ha": True, "size": -2000}, got
assert got["action"] == {"seen": False, "spam": True, "mailbox": junk}, got
assert got["metaData"] == {"team": "ops"} and got["name"] == "junk the pest", got

# Update: given keys change, keys given empty are removed, the rest stays.
expect("PUT", f"{path}/{first}", 200, body={
    "disabled": True,
    "query": {"subject": "", "to": "gail@"},
    "action": {"mailbox": "", "flag": True},
    "metaData": '{"team": "sales"}',
})
got = expect("GET", f"{path}/{first}", 200)
assert got["disabled"] is True, got
assert got["query"] == {"from": "pest@example.org", "to": "gail@", "ha": True, "size": -2000}, got
assert got["action"] == {"seen": False, "flag": True, "spam": True}, got
assert got["metaData"] == {"team": "sales"}, got
expect("PUT", f"{path}/{first}", 400, "InputValidationError", body={"query": {"size": "x"}})
expect("PUT", f"{path}/{MISSING}", 404, "FilterNotFound", body={"disabled": False})

# The operator's listing: every user's, with owner and targets; `forward` narrows by target.
expect("POST", f"/users/{hank}/filters", 200, body={"query": {"from": "a"}, "action": {"seen": True}})
everyone = expect("GET", "/filters?limit=2", 200)
assert everyone["total"] == 3 and len(everyone["results"]) == 2 and everyone["nextCursor"], everyone
rest = expect("GET", "/filters?limit=2&next=" + everyone["nextCursor"], 200)["results"]
assert len(rest) == 1 and rest[0]["user"] == hank, rest
by_target = expect("GET", "/filters?forward=books@", 200)["results"]
assert [f["id"] for f in by_target] == [second] and by_target[0]["targets"][0] == "books@example.net", by_target

# Ids: malformed, unknown, another user's.
expect("GET", f"{path}/123", 400, "InputValidationError")
expect("GET", f"{path}/{MISSING}", 404, "FilterNotFound")
expect("GET", f"/users/{hank}/filters/{first}", 404, "FilterNotFound")
expect("DELETE", f"/users/{hank}/filters/{first}", 404, "FilterNotFound")

# A user token reaches its own filters and autoreply only; /filters lists its own.
token = user_token("gail")
assert [f["id"] for f in expect("GET", "/filters", 200, token=token)["results"]] == [first, second]
assert len(expect("GET", "/users/me/filters", 200, token=token)["results"]) == 2
for method, route in [
    ("GET", f"/users/{hank}/filters"),
    ("POST", f"/users/{hank}/filters"),
    ("GET", f"/users/{hank}/autoreply"),
    ("PUT", f"/users/{hank}/autoreply"),
    ("DELETE", f"/users/{hank}/autoreply"),
]:
    expect(method, route, 403, "MissingPrivileges", token=token, body={"query": {}, "action": {}})
mine = expect("POST", "/users/me/filters", 200, token=token, body={"query": {"to": "me"}, "action": {"seen": True}})
expect("DELETE", f"/users/me/filters/{mine['id']}", 200, token=token)

expect("DELETE", f"{path}/{second}", 200)
expect("DELETE", f"{path}/{second}", 404, "FilterNotFound")
assert [f["id"] for f in expect("GET", path, 200)["results"]] == [first]

# The autoreply: defaults before it is set, set in parts, dates, removed.
auto = f"/users/{gail}/autoreply"
assert expect("GET", auto, 200) == {"success": True, "status": False, "name": "", "subject": "", "text": "", "html": ""}
expect("PUT", auto, 400, "InputValidationError", body={"start": "not a date"})
expect("PUT", auto, 400, "InputValidationError", body={"name": "x" * 129})
expect("PUT", f"/users/{MISSING}/autoreply", 404, "UserNotFound", body={"status": True})
created = expect("PUT", auto, 200, body={"status": True, "subject": " Away ", "text": "Back soon", "start": "2030-01-02T03:04:05.000Z"})
assert len(created["id"]) == 24, created
again = expect("PUT", "/users/me/autoreply", 200, token=token, body={"html": "<p>Back</p>", "end": 1893456000000})
assert again["id"] == created["id"], again
got = expect("GET", auto, 200)
assert got["status"] is True and got["subject"] == "Away" and got["text"] == "Back soon" and got["html"] == "<p>Back</p>", got
assert got["start"] == "2030-01-02T03:04:05.000Z" and got["end"] == "2030-01-01T00:00:00.000Z", got
expect("PUT", auto, 200, body={"start": False})
assert "start" not in expect("GET", auto, 200)
expect("DELETE", auto, 200, token=token)
assert expect("GET", auto, 200)["status"] is False
print("filters: ok")
