"""`DELETE /users/:user/mailboxes/:mailbox/messages`: every message of the mailbox goes (the
quota credited), other mailboxes keep theirs, another user's mailbox is unknown."""

import base64

from client import MISSING, create_user, expect, user_token

ida = create_user("ida", "ida@example.com")
create_user("jon")
jon = user_token("jon")
boxes = expect("GET", f"/users/{ida}/mailboxes", 200)["results"]
inbox = next(m["id"] for m in boxes if m["path"] == "INBOX")
trash = next(m["id"] for m in boxes if m["path"] == "Trash")


def upload(mailbox, subject):
    raw = f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()
    body = {"raw": base64.b64encode(raw).decode()}
    expect("POST", f"/users/{ida}/mailboxes/{mailbox}/messages", 200, body=body)
    return len(raw)


sizes = [upload(inbox, f"in {n}") for n in range(4)]
expect("PUT", f"/users/{ida}/mailboxes/{inbox}/messages", 200, body={"message": "1", "deleted": True})
kept = upload(trash, "in trash")
assert expect("GET", f"/users/{ida}", 200)["limits"]["quota"]["used"] == sum(sizes) + kept

expect("DELETE", f"/users/{ida}/mailboxes/{inbox}/messages", 403, token=jon)
expect("DELETE", f"/users/me/mailboxes/{inbox}/messages", 404, "NoSuchMailbox", token=jon)
expect("DELETE", f"/users/{ida}/mailboxes/{MISSING}/messages", 404, "NoSuchMailbox")
expect("DELETE", f"/users/{ida}/mailboxes/xyz/messages", 400, "InputValidationError")
expect("DELETE", f"/users/{ida}/mailboxes/{inbox}/messages?async=maybe", 400, "InputValidationError")
assert expect("GET", f"/users/{ida}/mailboxes/{inbox}/messages", 200)["total"] == 4

cleared = expect("DELETE", f"/users/{ida}/mailboxes/{inbox}/messages?async=true", 200)
assert cleared == {"success": True, "deleted": 4, "errors": 0}, cleared
assert expect("GET", f"/users/{ida}/mailboxes/{inbox}/messages", 200)["total"] == 0
assert [m["subject"] for m in expect("GET", f"/users/{ida}/mailboxes/{trash}/messages", 200)["results"]] == ["in trash"]
assert expect("GET", f"/users/{ida}", 200)["limits"]["quota"]["used"] == kept
again = expect("DELETE", f"/users/{ida}/mailboxes/{inbox}/messages", 200)
assert again["deleted"] == 0, again
