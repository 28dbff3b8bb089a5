"""`POST /users/:user/search`: an action on every message a search matches — flags set and
cleared, a move, a delete — leaving the rest alone; WildDuck's input errors (action missing,
`delete` with other fields), an unknown target, the fields we refuse (501), another user's
token."""

import base64

from client import MISSING, create_user, expect, user_token

kim = create_user("kim", "kim@example.com")
create_user("lee")
lee = user_token("lee")
boxes = {m["path"]: m["id"] for m in expect("GET", f"/users/{kim}/mailboxes", 200)["results"]}
inbox, trash = boxes["INBOX"], boxes["Trash"]
archive = expect("POST", f"/users/{kim}/mailboxes", 200, body={"path": "Archive"})["id"]


def upload(mailbox, sender, subject):
    raw = f"From: {sender}\r\nTo: kim@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n"
    body = {"raw": base64.b64encode(raw.encode()).decode(), "unseen": True}
    expect("POST", f"/users/{kim}/mailboxes/{mailbox}/messages", 200, body=body)


def subjects(mailbox, **filters):
    rows = expect("GET", f"/users/{kim}/mailboxes/{mailbox}/messages?limit=250", 200)["results"]
    return sorted(m["subject"] for m in rows if all(m[k] == v for k, v in filters.items()))


def apply(body, status=200, code=None, token=None):
    kwargs = {"body": body} if token is None else {"body": body, "token": token}
    return expect("POST", f"/users/{kim}/search", status, code, **kwargs)


for n in range(3):
    upload(inbox, "news@shop.example", f"offer {n}")
upload(inbox, "friend@example.org", "dinner")
upload(trash, "news@shop.example", "old offer")

# Input errors, before anything changes.
apply({"from": "shop"}, 400, "InputValidationError")
apply({"from": "shop", "action": "delete"}, 400, "InputValidationError")
refused = apply({"from": "shop", "action": {"delete": True, "seen": True}}, 400, "InputValidationError")
assert "When 'delete' is true, no other fields (seen) can be set" in refused["error"], refused
apply({"from": "shop", "action": {"seen": "maybe"}}, 400, "InputValidationError")
apply({"from": "shop", "action": {"moveTo": "nope"}}, 400, "InputValidationError")
apply({"from": "shop", "action": {"moveTo": MISSING}}, 404, "NoSuchMailbox")
apply({"thread": MISSING, "action": {"delete": True}}, 501, "NotImplemented")
apply({"from": "shop", "action": {"seen": True}}, 403, token=lee)
assert subjects(inbox, seen=True) == [], "nothing changed by a refused request"
assert len(subjects(inbox)) == 4

# Flags: every match in every mailbox, nothing else.
done = apply({"from": "shop", "action": {"seen": True, "flagged": True}})
assert done["existing"] is False and len(done["scheduled"]) == 24 and done["updated"] == 4, done
assert subjects(inbox, seen=True, flagged=True) == ["offer 0", "offer 1", "offer 2"]
assert subjects(inbox, seen=False) == ["dinner"]
assert subjects(trash, seen=True) == ["old offer"]
# `searchable` leaves Trash (and Junk) out; clearing a flag.
done = apply({"from": "shop", "searchable": True, "action": {"flagged": False}})
assert done["updated"] == 3, done
assert subjects(inbox, flagged=True) == [] and subjects(trash, flagged=True) == ["old offer"]

# A move, limited to one mailbox and a UID range.
done = apply({"mailbox": inbox, "id": "1:2", "action": {"moveTo": archive, "seen": False}})
assert done["updated"] == 2, done
assert subjects(archive, seen=False) == ["offer 0", "offer 1"]
assert subjects(inbox) == ["dinner", "offer 2"]

# The search fields both routes read, through the listing.
def found(query):
    return sorted(m["subject"] for m in expect("GET", f"/users/{kim}/search?{query}", 200)["results"])


assert found("subject=offer&datestart=2000-01-01T00:00:00Z") == ["offer 0", "offer 1", "offer 2", "old offer"]
assert found("subject=offer&dateend=2000-01-01T00:00:00Z") == []
assert found("subject=offer&minSize=100000") == []
assert found("subject=offer&maxSize=100000&minSize=1") == ["offer 0", "offer 1", "offer 2", "old offer"]
assert found(f"mailbox={archive}&id=2") == ["offer 1"]
expect("GET", f"/users/{kim}/search?thread={MISSING}", 501, "NotImplemented")
expect("GET", f"/users/{kim}/search?minSize=big", 400, "InputValidationError")
either = apply({"or": {"subject": "dinner", "from": "nomatch"}, "action": {"flagged": True}})
assert either["updated"] == 1 and subjects(inbox, flagged=True) == ["dinner"], either
apply({"or": "dinner", "action": {"seen": True}}, 400, "InputValidationError")

# A delete: matches go, the quota follows, the rest stays.
before = expect("GET", f"/users/{kim}", 200)["limits"]["quota"]["used"]
done = apply({"subject": "offer", "action": {"delete": True}})
assert done["updated"] == 4, done
assert subjects(inbox) == ["dinner"] and subjects(archive) == [] and subjects(trash) == []
assert expect("GET", f"/users/{kim}", 200)["limits"]["quota"]["used"] < before
assert apply({"subject": "offer", "action": {"delete": True}})["updated"] == 0
