"""Messages: upload, listing and paging, the parsed message of every MIME fixture checked
against Python's `email` package, raw source, attachments, flags, moves, deletes, search,
and every error case and foreign id the WildDuck suites do not cover."""

import base64
import email
import email.policy
import hashlib
import pathlib
import re
import urllib.error
import urllib.request

from client import BASE, MISSING, ROOT, create_user, expect, user_token

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "mime"


def fetch_bytes(path, token=ROOT):
    """GET returning (status, content type, body bytes)."""
    request = urllib.request.Request(BASE + path, headers={"X-Access-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def post_rfc822(path, raw):
    request = urllib.request.Request(BASE + path, data=raw, method="POST")
    request.add_header("Content-Type", "message/rfc822")
    request.add_header("X-Access-Token", ROOT)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def upload(user, mailbox, raw, **fields):
    body = {"raw": base64.b64encode(raw).decode(), **fields}
    return expect("POST", f"/users/{user}/mailboxes/{mailbox}/messages", 200, body=body)["message"]


def python_view(raw):
    """What WildDuck's indexer rules give, computed with Python's `email` package: the
    inline text/plain and text/html bodies (decoded, stripped) and the other leaves'
    decoded bytes, in tree order."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    texts, htmls, attachments = [], [], []

    def walk(part, alternative):
        alternative = alternative or part.get_content_type() == "multipart/alternative"
        if part.is_multipart():
            for child in part.get_payload():
                walk(child, alternative)
            return
        if part.get_content_maintype() == "multipart":
            # A multipart whose boundary Python could not use (fix3.eml quotes it with ');
            # WildDuck never lists a multipart node as an attachment.
            return
        payload = part.get_payload(decode=True) or b""
        if not part.get_payload():
            return
        disposition = part.get_content_disposition()
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and disposition in (None, "inline"):
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
            (htmls if kind == "text/html" else texts).append((text.strip(), alternative))
            return
        attachments.append((kind, part.get_filename(), payload))
        cid = (part.get("Content-ID") or "").replace("<", "").replace(">", "").strip()
        if cid:
            cids[cid] = f"ATT{len(attachments):05}"

    cids = {}
    walk(message, False)
    # WildDuck points `cid:` links at its attachment ids.
    link = lambda body: re.sub(r"cid:([^\s\"']+)", lambda m: f"attachment:{cids[m[1]]}" if m[1] in cids else m[0], body)
    texts = [(link(text), alternative) for text, alternative in texts]
    htmls = [(link(html), alternative) for html, alternative in htmls]
    return texts, htmls, attachments


def lf(text):
    return text.replace("\r\n", "\n")


alice = create_user("alice", "alice@example.com")
bob = create_user("bob", "bob@example.com")
token = user_token("alice")
mailboxes = expect("GET", f"/users/{alice}/mailboxes", 200)["results"]
inbox = mailboxes[0]["id"]
trash = next(m["id"] for m in mailboxes if m["path"] == "Trash")
bobs_inbox = expect("GET", f"/users/{bob}/mailboxes", 200)["results"][0]["id"]

# Every fixture: stored byte for byte, parsed as Python's `email` package reads it.
stored = {}
for path in sorted(FIXTURES.glob("*.eml")):
    raw = path.read_bytes()
    message = upload(alice, inbox, raw)
    assert message["mailbox"] == inbox and message["size"] == len(raw), message
    stored[path.name] = message["id"]
    status, kind, body = fetch_bytes(f"/users/{alice}/mailboxes/{inbox}/messages/{message['id']}/message.eml")
    assert status == 200 and kind == "message/rfc822" and body == raw, (path.name, status, kind)

    parsed = expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages/{message['id']}", 200)
    texts, htmls, attachments = python_view(raw)
    # text: the plain bodies in order (HTML outside an alternative adds its text form too).
    position = 0
    for text, _ in texts:
        found = lf(parsed["text"]).find(lf(text), position)
        assert text == "" or found >= 0, (path.name, text, parsed["text"])
        position = max(position, found)
    # html: every HTML body as written, and plain bodies outside an alternative as HTML; left
    # out, as WildDuck does, when there are none.
    expected_html = [lf(h) for h, _ in htmls if h]
    html = parsed.get("html", [])
    assert html or "html" not in parsed, (path.name, parsed["html"])
    got_html = [lf(h) for h in html if not h.startswith("<p>") or h in expected_html]
    assert [h for h in got_html if h in expected_html] == expected_html, (path.name, html, expected_html)
    assert len(html) == len([h for h, _ in htmls if h]) + len([t for t, alt in texts if t and not alt]), (
        path.name, html)
    # attachments: same count and order, the same decoded bytes, sizes and hashes.
    listed = parsed["attachments"]
    assert len(listed) == len(attachments), (path.name, listed, [(k, f) for k, f, _ in attachments])
    for number, (entry, (kind, filename, payload)) in enumerate(zip(listed, attachments), start=1):
        assert entry["id"] == f"ATT{number:05}", entry
        assert entry["contentType"] == kind, (path.name, entry, kind)
        if filename:
            assert entry["filename"] == filename, (path.name, entry, filename)
        # size and hash are of the body as stored (transfer-encoded), as WildDuck's; the
        # decoded content is checked by sizeKb and fileContentHash.
        assert entry["sizeKb"] == -(-len(payload) // 1024), (path.name, entry)
        assert entry["fileContentHash"] == base64.b64encode(hashlib.sha256(payload).digest()).decode(), (
            path.name, entry)
        assert entry["size"] >= len(payload) or entry["transferEncoding"] != "base64", (path.name, entry)
        status, served_type, served = fetch_bytes(
            f"/users/{alice}/mailboxes/{inbox}/messages/{message['id']}/attachments/{entry['id']}")
        assert status == 200 and served == payload, (path.name, entry["id"], status, len(served), len(payload))
        assert served_type == kind, (served_type, kind)

# Fields written from simple.eml itself.
simple = expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages/{stored['simple.eml']}", 200)
assert simple["from"] == {"name": "Sender Name 👻", "address": "sender@example.com"}, simple["from"]
assert simple["to"] == [{"name": "Receiver Name 👥", "address": "receiver@example.com"}], simple["to"]
assert simple["subject"] == "Nodemailer is unicode friendly ✔", simple["subject"]
assert simple["messageId"] == "<1450862517911-ebf3ac1e-e421bda1-4d17b820@example.com>", simple
assert simple["date"] == "2015-12-23T09:21:57.000Z", simple["date"]
assert simple["text"] == "hello" and simple["html"] == ["<p>hello</p>"], simple
assert [a["filename"] for a in simple["attachments"]] == ["notes 🕶.txt", "image.png"], simple["attachments"]
assert simple["attachments"][0]["transferEncoding"] == "quoted-printable"
assert simple["attachments"][0]["disposition"] == "attachment" and simple["attachments"][0]["cid"] is None
assert simple["contentType"]["value"] == "multipart/mixed", simple["contentType"]
assert simple["seen"] is True and simple["flagged"] is False and simple["user"] == alice, simple

# A message/rfc822 body is stored as sent; `unseen` on upload, `markAsSeen` on read.
raw = (FIXTURES / "fix1.eml").read_bytes()
status, answer = post_rfc822(f"/users/{alice}/mailboxes/{inbox}/messages", raw)
assert status == 200, answer
plain_id = expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages?limit=1", 200)["results"][0]["id"]
unseen_id = upload(alice, inbox, (FIXTURES / "fix4.eml").read_bytes(), unseen=True, flagged=True)["id"]
row = expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages?unseen=true", 200)["results"]
assert [r["id"] for r in row] == [unseen_id] and row[0]["flagged"] is True, row
assert row[0]["intro"] == "Hello World!" and row[0]["subject"] == "test", row
expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages/{unseen_id}?markAsSeen=true", 200)
assert expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages?unseen=true", 200)["total"] == 0

# A message built from JSON fields parses back to them.
built = expect("POST", f"/users/{alice}/mailboxes/{inbox}/messages", 200, body={
    "to": [{"name": "Bøb", "address": "bob@example.com"}],
    "subject": "Hello ✔",
    "text": "Plain body",
    "html": "<b>HTML body</b>",
    "headers": [{"key": "List-Id", "value": "demo"}],
    "attachments": [{"filename": "a.bin", "contentType": "application/octet-stream",
                     "content": base64.b64encode(b"\x00\x01binary\xff").decode()}],
    "draft": True,
})["message"]
composed = expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages/{built['id']}", 200)
assert composed["from"]["address"] == "alice@example.com", composed["from"]
assert composed["to"] == [{"name": "Bøb", "address": "bob@example.com"}], composed["to"]
assert composed["subject"] == "Hello ✔" and composed["text"] == "Plain body", composed
assert composed["html"] == ["<b>HTML body</b>"] and composed["draft"] is True, composed
assert composed["list"]["id"] == "demo", composed.get("list")
status, _, content = fetch_bytes(f"/users/{alice}/mailboxes/{inbox}/messages/{built['id']}/attachments/ATT00001")
assert status == 200 and content == b"\x00\x01binary\xff", content

# Paging: next, next, previous, previous walk back to the same pages, in both orders.
for number in range(7):
    upload(alice, mailboxes[1]["id"], f"Subject: page {number}\r\n\r\nbody {number}\r\n".encode())
drafts = mailboxes[1]["id"]
for order in ("desc", "asc"):
    listing = f"/users/{alice}/mailboxes/{drafts}/messages?limit=3&order={order}"
    first = expect("GET", listing, 200)
    assert first["total"] == 7 and first["previousCursor"] is False, first
    second = expect("GET", f"{listing}&next={first['nextCursor']}", 200)
    third = expect("GET", f"{listing}&next={second['nextCursor']}", 200)
    assert len(third["results"]) == 1 and third["nextCursor"] is False, third
    back = expect("GET", f"{listing}&previous={third['previousCursor']}", 200)
    assert back["results"] == second["results"], (back, second)
    start = expect("GET", f"{listing}&previous={back['previousCursor']}", 200)
    assert start["results"] == first["results"]
    subjects = [r["subject"] for page in (first, second, third) for r in page["results"]]
    expected = [f"page {n}" for n in range(7)]
    assert subjects == (expected[::-1] if order == "desc" else expected), subjects

# Flags, one message and a range; a move answers the new UIDs; delete removes.
target = stored["simple.eml"]
updated = expect("PUT", f"/users/{alice}/mailboxes/{inbox}/messages/{target}", 200,
                 body={"seen": False, "flagged": True})
assert updated["updated"] == 1, updated
got = expect("GET", f"/users/{alice}/mailboxes/{inbox}/messages/{target}", 200)
assert got["seen"] is False and got["flagged"] is True, got
expect("PUT", f"/users/{alice}/mailboxes/{drafts}/messages", 200, body={"message": "1:*", "seen": False})
assert expect("GET", f"/users/{alice}/mailboxes/{drafts}/messages?unseen=true", 200)["total"] == 7
moved = expect("PUT", f"/users/{alice}/mailboxes/{drafts}/messages", 200, body={"message": "1,2", "moveTo": trash})
assert moved["mailbox"] == trash and [pair[0] for pair in moved["id"]] == [1, 2], moved
assert expect("GET", f"/users/{alice}/mailboxes/{trash}/messages", 200)["total"] == 2
expect("DELETE", f"/users/{alice}/mailboxes/{trash}/messages/{moved['id'][0][1]}", 200)
assert expect("GET", f"/users/{alice}/mailboxes/{trash}/messages", 200)["total"] == 1
expect("DELETE", f"/users/{alice}/mailboxes/{trash}/messages/{moved['id'][0][1]}", 404, "MessageNotFound")

# Search: partial From:, across mailboxes or in one, with paging.
found = expect("GET", f"/users/{alice}/search?from=sender@example&limit=50", 200)
assert {r["id"] for r in found["results"]} >= {stored["simple.eml"]}, found
assert all(r["mailbox"] == inbox for r in found["results"]), found
assert expect("GET", f"/users/{alice}/search?subject=page&mailbox={drafts}", 200)["total"] == 5
assert expect("GET", f"/users/{alice}/search?subject=page", 200)["total"] == 6
assert expect("GET", f"/users/{alice}/search?query=zzzz", 200)["total"] == 2

# Errors, with WildDuck's codes.
msgs = f"/users/{alice}/mailboxes/{inbox}/messages"
expect("GET", f"/users/{MISSING}/mailboxes/{inbox}/messages", 404, "NoSuchMailbox")
expect("GET", f"/users/{alice}/mailboxes/{MISSING}/messages", 404, "NoSuchMailbox")
expect("GET", f"/users/{alice}/mailboxes/{MISSING}/messages/1", 404, "MessageNotFound")
expect("GET", f"{msgs}/99999", 404, "MessageNotFound")
expect("GET", f"{msgs}/99999/message.eml", 404, "MessageNotFound")
expect("GET", f"{msgs}/99999/attachments/ATT00001", 404, "MessageNotFound")
expect("GET", f"{msgs}/{target}/attachments/ATT00099", 404, "AttachmentNotFound")
expect("GET", f"{msgs}/{target}/attachments/../../x", 404)
expect("GET", f"{msgs}/{target}/attachments/FILE1", 400, "InputValidationError")
expect("GET", f"{msgs}/abc", 400, "InputValidationError")
expect("GET", f"{msgs}/0", 400, "InputValidationError")
expect("GET", f"{msgs}?limit=1000", 400, "InputValidationError")
expect("GET", f"{msgs}?order=sideways", 400, "InputValidationError")
expect("GET", f"{msgs}?next=zz", 400, "InputValidationError")
expect("GET", f"/users/{alice}/mailboxes/123/messages", 400, "InputValidationError")
expect("PUT", f"{msgs}/99999", 404, "MessageNotFound", body={"seen": True})
expect("PUT", f"{msgs}", 400, "InputValidationError", body={"message": "1-3", "seen": True})
expect("PUT", f"{msgs}", 400, "InputValidationError", body={"seen": True})
expect("PUT", f"{msgs}/{target}", 404, "NoSuchMailbox", body={"moveTo": MISSING})
expect("PUT", f"{msgs}/{target}", 400, "InputValidationError", body={"expires": "someday"})
assert expect("PUT", f"{msgs}/{target}", 200, body={"expires": "2030-01-01T00:00:00Z"})["updated"] == 1
assert expect("PUT", f"{msgs}/{target}", 200, body={"expires": False})["updated"] == 1
expect("PUT", f"{msgs}/99999", 404, "MessageNotFound", body={"expires": False})
expect("DELETE", f"{msgs}/99999", 404, "MessageNotFound")
expect("POST", msgs, 400, "EmptyMessage", raw=b"", headers={"Content-Type": "message/rfc822"})
expect("POST", msgs, 400, "InputValidationError", body={"raw": "!!!"})
expect("POST", msgs, 400, "InputValidationError", body={"to": [{"address": "not an address"}]})
expect("POST", msgs, 400, "InputValidationError", body={"headers": [{"key": "Bad: name", "value": "x"}]})
expect("POST", msgs, 501, "NotImplemented", body={"text": "x", "files": [MISSING]})
expect("POST", f"/users/{alice}/mailboxes/{MISSING}/messages", 404, "NoSuchMailbox", body={"text": "x"})
expect("GET", f"/users/{MISSING}/search?query=x", 404, "UserNotFound")
expect("GET", f"/users/{alice}/search?mailbox={MISSING}", 404, "NoSuchMailbox")

# Another user's mailbox is unknown under this user.
expect("GET", f"/users/{alice}/mailboxes/{bobs_inbox}/messages", 404, "NoSuchMailbox")
bobs_message = upload(bob, bobs_inbox, b"Subject: private\r\n\r\nsecret\r\n")["id"]
expect("GET", f"/users/{alice}/mailboxes/{bobs_inbox}/messages/{bobs_message}", 404, "MessageNotFound")
expect("PUT", f"{msgs}/{target}", 404, "NoSuchMailbox", body={"moveTo": bobs_inbox})

# Submitting a stored draft queues it through the submission rule: the Sent copy replaces
# the draft. Not a draft, another's From, an unknown message: refused, nothing queued.
drafts = next(m["id"] for m in mailboxes if m["path"] == "Drafts")
sent = next(m["id"] for m in mailboxes if m["path"] == "Sent Mail")
draft = expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages", 200, body={
    "draft": True, "from": {"address": "alice@example.com"}, "to": [{"address": "carol@example.net"}],
    "bcc": [{"address": "dave@example.org"}], "subject": "Draft to send", "text": "Sent from a draft"})["message"]["id"]
submitted = expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages/{draft}/submit", 200, body={})
assert submitted["message"]["mailbox"] == sent and re.fullmatch(r"[0-9a-f]{24}", submitted["queueId"]), submitted
copy = expect("GET", f"/users/{alice}/mailboxes/{sent}/messages/{submitted['message']['id']}", 200)
assert copy["subject"] == "Draft to send" and copy["seen"] and not copy["draft"], copy
expect("GET", f"/users/{alice}/mailboxes/{drafts}/messages/{draft}", 404, "MessageNotFound")
expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages/{draft}/submit", 404, "MessageNotFound", body={})
plain = upload(alice, drafts, b"From: alice@example.com\r\nTo: carol@example.net\r\nSubject: no draft\r\n\r\nx\r\n")["id"]
expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages/{plain}/submit", 400, "MessageNotDraft", body={})
forged = upload(alice, drafts, b"From: bob@example.com\r\nTo: carol@example.net\r\nSubject: forged\r\n\r\nx\r\n",
                draft=True)["id"]
expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages/{forged}/submit", 403, body={})
expect("GET", f"/users/{alice}/mailboxes/{drafts}/messages/{forged}", 200)
expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages/{forged}/submit", 403,
       body={"sendTime": "2999-01-01T00:00:00Z"})
expect("POST", f"/users/{alice}/mailboxes/{drafts}/messages/abc/submit", 400, "InputValidationError", body={})
assert len(expect("GET", f"/users/{alice}/mailboxes/{sent}/messages", 200)["results"]) == 1

# A user token reaches its own messages only: every route with Bob's ids is refused.
bob_msgs = f"/users/{bob}/mailboxes/{bobs_inbox}/messages"
for method, path, body in [
    ("GET", bob_msgs, None),
    ("POST", bob_msgs, {"text": "x"}),
    ("PUT", bob_msgs, {"message": "1:*", "seen": True}),
    ("GET", f"{bob_msgs}/{bobs_message}", None),
    ("PUT", f"{bob_msgs}/{bobs_message}", {"seen": True}),
    ("DELETE", f"{bob_msgs}/{bobs_message}", None),
    ("GET", f"{bob_msgs}/{bobs_message}/message.eml", None),
    ("GET", f"{bob_msgs}/{bobs_message}/attachments/ATT00001", None),
    ("GET", f"/users/{bob}/search?query=secret", None),
    ("POST", f"{bob_msgs}/{bobs_message}/submit", {}),
]:
    expect(method, path, 403, "MissingPrivileges", token=token, body=body)
status, _, _ = fetch_bytes(f"{bob_msgs}/{bobs_message}/message.eml", token=token)
assert status == 403, status
assert expect("GET", f"/users/me/search?query=secret", 200, token=token)["total"] == 0
assert expect("GET", f"/users/me/mailboxes/{inbox}/messages/{target}", 200, token=token)["id"] == target
expect("GET", f"/users/me/mailboxes/{inbox}/messages", 403, "InvalidToken", token="0" * 40)
still = expect("GET", f"{bob_msgs}/{bobs_message}", 200)
assert still["text"] == "secret" and still["seen"] is True, still
print("messages: ok")
