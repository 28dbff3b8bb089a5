"""Mailboxes: error cases and isolation the WildDuck suites do not cover."""

from client import MISSING, create_user, expect, user_token

alice = create_user("alice")
bob = create_user("bob")
token = user_token("alice")

expect("GET", f"/users/{MISSING}/mailboxes", 404, "UserNotFound")
expect("POST", f"/users/{MISSING}/mailboxes", 404, "UserNotFound", body={"path": "x"})
expect("GET", f"/users/{alice}/mailboxes/{MISSING}", 404, "NoSuchMailbox")
expect("GET", f"/users/{alice}/mailboxes/123", 400, "InputValidationError")
expect("GET", f"/users/{alice}/mailboxes?counters=maybe", 400, "InputValidationError")
expect("GET", f"/users/{alice}/mailboxes/resolve?path=Nope", 404, "NoSuchMailbox")
failed = expect("PUT", f"/users/{alice}/mailboxes/{MISSING}", 404, "NoSuchMailbox", body={"path": "x"})
assert failed["error"] == "Mailbox update failed with code NoSuchMailbox", failed
expect("DELETE", f"/users/{alice}/mailboxes/{MISSING}", 404, "NoSuchMailbox")
expect("POST", f"/users/{alice}/mailboxes", 400, "InputValidationError", body={"path": "a//b"})
expect("POST", f"/users/{alice}/mailboxes", 400, "InputValidationError", body={"path": "a/../b"})
expect("POST", f"/users/{alice}/mailboxes", 400, "InputValidationError", body={"path": 7})

# The special-use folders are made with the account, with counters on request.
listed = expect("GET", f"/users/{alice}/mailboxes?counters=true&sizes=1", 200)["results"]
assert [m["path"] for m in listed] == ["INBOX", "Drafts", "Junk", "Sent Mail", "Trash"], listed
assert all(m["total"] == 0 and m["unseen"] == 0 and m["size"] == 0 for m in listed), listed
assert {m["path"]: m["specialUse"] for m in listed}["Sent Mail"] == "\\Sent", listed
inbox = listed[0]["id"]
drafts = listed[1]["id"]
expect("DELETE", f"/users/{alice}/mailboxes/{inbox}", 400, "DisallowedMailboxMethod")
expect("DELETE", f"/users/{alice}/mailboxes/{drafts}", 400, "DisallowedMailboxMethod")
expect("PUT", f"/users/{alice}/mailboxes/{inbox}", 400, "DisallowedMailboxMethod", body={"path": "Elsewhere"})

# `encryptMessages` is kept per mailbox, and changed alone.
sealed = expect("POST", f"/users/{alice}/mailboxes", 200, body={"path": "Sealed", "encryptMessages": True})["id"]
assert expect("GET", f"/users/{alice}/mailboxes/{sealed}", 200)["encryptMessages"] is True
listed = expect("GET", f"/users/{alice}/mailboxes", 200)["results"]
assert {m["path"]: m["encryptMessages"] for m in listed} == {
    "INBOX": False, "Drafts": False, "Junk": False, "Sent Mail": False, "Trash": False, "Sealed": True}, listed
expect("PUT", f"/users/{alice}/mailboxes/{sealed}", 200, body={"encryptMessages": False})
assert expect("GET", f"/users/{alice}/mailboxes/{sealed}", 200)["encryptMessages"] is False
expect("PUT", f"/users/{alice}/mailboxes/{sealed}", 400, "InputValidationError", body={"encryptMessages": "maybe"})
expect("DELETE", f"/users/{alice}/mailboxes/{sealed}", 200)

# `hidden` and `retention` are kept; hidden mailboxes leave the listing unless asked for.
# As in WildDuck, a mailbox is made without its missing parents.
hidden = expect("POST", f"/users/{alice}/mailboxes", 200, body={"path": "Archive/Old", "hidden": True, "retention": 86400000})["id"]
shown = expect("GET", f"/users/{alice}/mailboxes/{hidden}", 200)
assert shown["hidden"] is True and shown["retention"] == 86400000, shown
expect("GET", f"/users/{alice}/mailboxes/resolve?path=Archive", 404, "NoSuchMailbox")
paths = [m["path"] for m in expect("GET", f"/users/{alice}/mailboxes", 200)["results"]]
assert "Archive/Old" not in paths, paths
paths = [m["path"] for m in expect("GET", f"/users/{alice}/mailboxes?showHidden=true", 200)["results"]]
assert "Archive/Old" in paths, paths
expect("PUT", f"/users/{alice}/mailboxes/{hidden}", 200, body={"hidden": False, "retention": 0})
shown = expect("GET", f"/users/{alice}/mailboxes/{hidden}", 200)
assert shown["hidden"] is False and "retention" not in shown, shown
for bad in [{"retention": -1}, {"retention": "soon"}, {"hidden": "maybe"}]:
    expect("PUT", f"/users/{alice}/mailboxes/{hidden}", 400, "InputValidationError", body=bad)
    expect("POST", f"/users/{alice}/mailboxes", 400, "InputValidationError", body={"path": "Bad", **bad})
expect("GET", f"/users/{alice}/mailboxes/resolve?path=Bad", 404, "NoSuchMailbox")
expect("PUT", f"/users/{alice}/mailboxes/{MISSING}", 404, body={"hidden": True})
expect("DELETE", f"/users/{alice}/mailboxes/{hidden}", 200)

# Create, rename (children follow), unsubscribe, delete.
work = expect("POST", f"/users/{alice}/mailboxes", 200, body={"path": "/Work"})["id"]
expect("POST", f"/users/{alice}/mailboxes", 200, body={"path": "Work/Reports"})
expect("POST", f"/users/{alice}/mailboxes", 400, "ALREADYEXISTS", body={"path": "Work"})
expect("PUT", f"/users/{alice}/mailboxes/{work}", 400, body={})
expect("PUT", f"/users/{alice}/mailboxes/{work}", 200, body={"path": "Projects", "subscribed": False})
moved = expect("GET", f"/users/{alice}/mailboxes/resolve?path=Projects/Reports", 200)
assert moved["name"] == "Reports", moved
renamed = expect("GET", f"/users/{alice}/mailboxes/{work}", 200)
assert renamed["path"] == "Projects" and renamed["subscribed"] is False, renamed
assert [m["path"] for m in expect("GET", f"/users/{alice}/mailboxes", 200)["results"]][-1] == "Projects"

# Another user's mailbox is unknown under this user; a user token reaches only its own.
bobs_inbox = expect("GET", f"/users/{bob}/mailboxes/resolve?path=INBOX", 200)["id"]
expect("GET", f"/users/{alice}/mailboxes/{bobs_inbox}", 404, "NoSuchMailbox")
expect("PUT", f"/users/{alice}/mailboxes/{bobs_inbox}", 404, "NoSuchMailbox", body={"subscribed": False})
expect("DELETE", f"/users/{alice}/mailboxes/{bobs_inbox}", 404, "NoSuchMailbox")
for method, path, body in [
    ("GET", f"/users/{bob}/mailboxes", None),
    ("POST", f"/users/{bob}/mailboxes", {"path": "Mine"}),
    ("GET", f"/users/{bob}/mailboxes/{bobs_inbox}", None),
    ("PUT", f"/users/{bob}/mailboxes/{bobs_inbox}", {"subscribed": False}),
    ("DELETE", f"/users/{bob}/mailboxes/{bobs_inbox}", None),
]:
    expect(method, path, 403, "MissingPrivileges", token=token, body=body)
expect("GET", f"/users/{bob}/mailboxes/resolve?path=Mine", 404, "NoSuchMailbox")
assert len(expect("GET", "/users/me/mailboxes", 200, token=token)["results"]) == 7

expect("DELETE", f"/users/me/mailboxes/{work}", 200, token=token)
expect("GET", f"/users/{alice}/mailboxes/{work}", 404, "NoSuchMailbox")
print("mailboxes: ok")
