"""Submitting drafts with `sendTime` and `const:max:rcpt_to`, and taking a queued message out
of the queue (`DELETE /users/:user/outbound/:queueId`). The Rust side of the test then reads
the queue: the entry left must wait for its `sendTime` (printed last by this script)."""

from client import MISSING, ROOT, call, create_user, expect, user_token

sam = create_user("sam", "sam@example.com")
create_user("tom", "tom@example.com")
tom = user_token("tom")
drafts = next(m["id"] for m in expect("GET", f"/users/{sam}/mailboxes", 200)["results"] if m["path"] == "Drafts")
sent = next(m["id"] for m in expect("GET", f"/users/{sam}/mailboxes", 200)["results"] if m["path"] == "Sent Mail")
LATER = "2099-01-01T00:00:00.000Z"


def draft(subject):
    body = {"draft": True, "from": {"address": "sam@example.com"}, "subject": subject, "text": "x",
            "to": [{"address": f"r{n}@example.org"} for n in range(3)]}
    return expect("POST", f"/users/{sam}/mailboxes/{drafts}/messages", 200, body=body)["message"]["id"]


# More recipients than const:max:rcpt_to: refused before anything is queued, draft kept.
expect("POST", "/settings/const:max:rcpt_to", 200, body={"value": 2})
first = draft("first")
refused = expect("POST", f"/users/{sam}/mailboxes/{drafts}/messages/{first}/submit", 403, "TooMany",
                 body={"sendTime": LATER})
assert refused["error"] == "Your email has too many recipients", refused
expect("GET", f"/users/{sam}/mailboxes/{drafts}/messages/{first}", 200)
assert expect("GET", f"/users/{sam}/mailboxes/{sent}/messages", 200)["total"] == 0
expect("POST", "/settings/const:max:rcpt_to", 200, body={"value": 3})

# A future sendTime queues the message now, to be tried then; the Sent copy is there at once.
queued = expect("POST", f"/users/{sam}/mailboxes/{drafts}/messages/{first}/submit", 200,
                body={"sendTime": LATER})
queue_id = queued["queueId"]
assert len(queue_id) == 24, queued
assert expect("GET", f"/users/{sam}/mailboxes/{sent}/messages", 200)["total"] == 1

# Another user's queue entry is not theirs to remove, root asking under the wrong user neither.
for path, token in [(f"/users/me/outbound/{queue_id}", tom), (f"/users/{MISSING}/outbound/{queue_id}", ROOT)]:
    status, body = call("DELETE", path, token=token)
    assert (status, body) == (200, {"success": False, "code": "NotEnoughPrivileges"}), (path, status, body)
status, body = call("DELETE", f"/users/{sam}/outbound/{MISSING}")
assert (status, body) == (200, {"success": False, "code": "NoSuchQueueEntry"}), body
expect("DELETE", f"/users/{sam}/outbound/not-hex", 400, "InputValidationError")

removed = expect("DELETE", f"/users/{sam}/outbound/{queue_id}", 200)
assert removed == {"success": True, "queueId": queue_id, "deleted": 3}, removed
status, body = call("DELETE", f"/users/{sam}/outbound/{queue_id}")
assert (status, body) == (200, {"success": False, "code": "NoSuchQueueEntry"}), body

# One more, left in the queue for the Rust side to inspect.
second = draft("second")
kept = expect("POST", f"/users/{sam}/mailboxes/{drafts}/messages/{second}/submit", 200, body={"sendTime": LATER})
print(kept["queueId"])
