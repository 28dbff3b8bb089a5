"""`POST /users/:user/submit`: a message composed from JSON goes through the submission rule
— the \\Sent copy as composed (Bcc kept there), queue entries for the envelope; `envelope`
overrides the recipients; a future `sendTime` dates the message; a From that is not the
user's, too many recipients, no recipient, unsupported fields, a foreign token are refused
and queue nothing. Prints the queue ids (JSON) for the Rust side, which reads the queue."""

import json

from client import MISSING, call, create_user, expect, user_token

una = create_user("una", "una@example.com")
create_user("vic", "vic@example.com")
vic = user_token("vic")
boxes = {m["path"]: m["id"] for m in expect("GET", f"/users/{una}/mailboxes", 200)["results"]}
sent, inbox = boxes["Sent Mail"], boxes["INBOX"]
LATER = "2099-01-01T00:00:00.000Z"


def sent_subjects():
    return sorted(m["subject"] for m in expect("GET", f"/users/{una}/mailboxes/{sent}/messages", 200)["results"])


message = {
    "to": [{"name": "Ann", "address": "ann@example.org"}, {"address": "bob@example.org"}],
    "cc": [{"address": "cat@other.test"}],
    "bcc": [{"address": "hidden@example.org"}, {"address": "ANN@example.org"}],
    "subject": "hello",
    "text": "Hello there",
}

# Refused, nothing stored or queued.
expect("POST", f"/users/{una}/submit", 403, body={**message, "from": {"address": "boss@example.com"}})
expect("POST", f"/users/{una}/submit", 403, body={**message, "envelope": {"from": {"address": "boss@example.com"}}})
expect("POST", f"/users/{una}/submit", 400, "NoRecipients", body={"subject": "nobody", "text": "x"})
expect("POST", f"/users/{una}/submit", 400, "InputValidationError", body={**message, "to": [{"address": "not an address"}]})
expect("POST", f"/users/{una}/submit", 400, "InputValidationError", body={**message, "sendTime": "soon"})
expect("POST", f"/users/{una}/submit", 400, "InputValidationError", body={**message, "envelope": "x"})
expect("POST", f"/users/{una}/submit", 501, "NotImplemented", body={**message, "reference": {"mailbox": inbox, "id": 1, "action": "reply"}})
expect("POST", f"/users/{una}/submit", 501, "NotImplemented", body={**message, "mailbox": inbox})
expect("POST", f"/users/{una}/submit", 404, "NoSuchMailbox", body={**message, "mailbox": MISSING})
expect("POST", f"/users/{una}/submit", 403, body=message, token=vic)
expect("POST", f"/users/{MISSING}/submit", 404, "UserNotFound", body=message)
expect("POST", "/settings/const:max:rcpt_to", 200, body={"value": 3})
expect("POST", f"/users/{una}/submit", 403, "TooMany", body=message)
expect("POST", "/settings/const:max:rcpt_to", 200, body={"value": 50})
assert sent_subjects() == [], sent_subjects()

# Sent: the \Sent copy as composed, from the main address.
done = expect("POST", f"/users/{una}/submit", 200, body={**message, "mailbox": sent})["message"]
assert done["mailbox"] == sent and isinstance(done["id"], int) and len(done["queueId"]) == 24, done
copy = expect("GET", f"/users/{una}/mailboxes/{sent}/messages/{done['id']}", 200)
assert copy["from"] == {"name": "", "address": "una@example.com"}, copy["from"]
assert [a["address"] for a in copy["to"]] == ["ann@example.org", "bob@example.org"], copy["to"]
assert [a["address"] for a in copy["bcc"]] == ["hidden@example.org", "ANN@example.org"], copy["bcc"]
assert copy["subject"] == "hello" and copy["seen"] is True, copy
assert copy["text"].strip() == "Hello there", copy["text"]

# An envelope of its own: only its recipients get it; a future sendTime dates the message.
later = expect("POST", f"/users/{una}/submit", 200, body={
    "to": [{"address": "ann@example.org"}], "subject": "later", "text": "x", "sendTime": LATER,
    "envelope": {"to": [{"address": "only@example.net"}]},
})["message"]
dated = expect("GET", f"/users/{una}/mailboxes/{sent}/messages/{later['id']}", 200)
assert dated["date"].startswith("2099-01-01T00:00:00"), dated["date"]
assert sent_subjects() == ["hello", "later"], sent_subjects()

print(json.dumps({"now": done["queueId"], "later": later["queueId"]}))
