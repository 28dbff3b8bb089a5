"""`POST …/messages/:message/forward`: a stored message queued again, unchanged, to the given
addresses; input errors, `target` (501), unknown and foreign messages. Prints the queue id
and the stored bytes (JSON) for the Rust side, which reads the queue."""

import base64
import json

from client import MISSING, create_user, expect, user_token

wes = create_user("wes", "wes@example.com")
create_user("xia")
xia = user_token("xia")
inbox = next(m["id"] for m in expect("GET", f"/users/{wes}/mailboxes", 200)["results"] if m["path"] == "INBOX")
raw = (b"Return-Path: <origin@sender.test>\r\nFrom: Someone <someone@sender.test>\r\n"
       b"To: wes@example.com\r\nMessage-ID: <fwd-1@sender.test>\r\nSubject: pass it on\r\n\r\nbody\r\n")
uid = expect("POST", f"/users/{wes}/mailboxes/{inbox}/messages", 200,
             body={"raw": base64.b64encode(raw).decode()})["message"]["id"]
path = f"/users/{wes}/mailboxes/{inbox}/messages/{uid}/forward"

expect("POST", path, 400, "InputValidationError", body={"addresses": ["not an address"]})
expect("POST", path, 400, "InputValidationError", body={"addresses": "a@b.test"})
expect("POST", path, 400, "InputValidationError", body={"target": 0})
expect("POST", path, 501, "NotImplemented", body={"target": 1})
expect("POST", f"/users/{wes}/mailboxes/{inbox}/messages/{uid + 1}/forward", 404, "MessageNotFound",
       body={"addresses": ["a@b.test"]})
expect("POST", f"/users/{wes}/mailboxes/{MISSING}/messages/{uid}/forward", 404, "MessageNotFound",
       body={"addresses": ["a@b.test"]})
expect("POST", path, 403, body={"addresses": ["a@b.test"]}, token=xia)
assert expect("POST", path, 200, body={}) == {"success": True, "forwarded": []}

done = expect("POST", path, 200, body={"addresses": ["one@far.test", "two@far.test", "three@other.test"]})
assert len(done["queueId"]) == 24, done
assert done["forwarded"] == [
    {"seq": "001", "type": "mail", "value": "one@far.test"},
    {"seq": "002", "type": "mail", "value": "two@far.test"},
    {"seq": "003", "type": "mail", "value": "three@other.test"},
], done
# The message itself is untouched.
assert expect("GET", f"/users/{wes}/mailboxes/{inbox}/messages/{uid}", 200)["subject"] == "pass it on"
print(json.dumps({"queueId": done["queueId"], "raw": base64.b64encode(raw).decode()}))
