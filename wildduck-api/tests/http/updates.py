"""GET /users/:user/updates, WildDuck's change stream, read by a real HTTP client while the
changes come in over IMAP (imaplib): APPEND and STORE arrive as events with journal ids and
COUNTERS, a Last-Event-ID (header or query parameter) replays only what came after it, a
user token reaches only its own stream, and an unknown user is 404."""

import imaplib
import json
import sys
import urllib.request

from client import BASE, MISSING, ROOT, create_user, expect, user_token

IMAP_PORT = int(sys.argv[3])
# Generous: an event follows its IMAP command at once, but the machine may be busy.
WAIT_SECONDS = 10


class EventStream:
    """One open text/event-stream: blocks split at blank lines, comments kept apart."""

    def __init__(self, path, token=ROOT, headers=None):
        request = urllib.request.Request(BASE + path)
        request.add_header("X-Access-Token", token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        self.response = urllib.request.urlopen(request, timeout=WAIT_SECONDS)
        assert self.response.status == 200, self.response.status
        content_type = self.response.headers["Content-Type"]
        assert content_type.startswith("text/event-stream"), content_type
        assert self.response.headers["Cache-Control"] == "no-cache"

    def block(self):
        """The next block: (comments, id, data as JSON or None)."""
        comments, event_id, data = [], None, []
        while True:
            line = self.response.readline()
            assert line, "the stream ended"
            line = line.decode().rstrip("\n")
            if line == "":
                if comments or event_id or data:
                    return comments, event_id, json.loads("\n".join(data)) if data else None
                continue
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
            elif line.startswith("id: "):
                event_id = line[len("id: "):]
            else:
                raise AssertionError(f"unexpected line {line!r}")

    def event(self):
        """The next event, skipping idle comments: (id, data)."""
        while True:
            comments, event_id, data = self.block()
            if data is not None:
                assert not comments, comments
                return event_id, data
            assert all(comment.startswith("idling") for comment in comments), comments

    def close(self):
        self.response.close()


def is_journal_id(text):
    return isinstance(text, str) and len(text) == 24 and all(c in "0123456789abcdef" for c in text)


alice = create_user("streamer")
create_user("bystander")
bystander_token = user_token("bystander")
inbox = next(
    box["id"] for box in expect("GET", f"/users/{alice}/mailboxes", 200)["results"] if box["path"] == "INBOX"
)

live = EventStream(f"/users/{alice}/updates")
# With nothing to replay the stream opens with WildDuck's first idle comment.
assert live.block() == (["idling 1"], None, None)

imap = imaplib.IMAP4("127.0.0.1", IMAP_PORT)
imap.login("streamer", "secret-streamer")
message = b"From: a@example.com\r\nTo: streamer@example.com\r\nSubject: live\r\n\r\nhello\r\n"
assert imap.append("INBOX", None, None, message)[0] == "OK"

exists_id, exists = live.event()
assert is_journal_id(exists_id), exists_id
assert exists == {"command": "EXISTS", "mailbox": inbox, "uid": 1}, exists
counters_id, counters = live.event()
assert counters_id == exists_id, (counters_id, exists_id)
assert counters == {"command": "COUNTERS", "mailbox": inbox, "total": 1, "unseen": 1}, counters

imap.select("INBOX")
assert imap.uid("STORE", "1", "+FLAGS", "(\\Seen)")[0] == "OK"
fetch_id, fetch = live.event()
assert fetch_id > exists_id, (fetch_id, exists_id)
assert fetch == {"command": "FETCH", "mailbox": inbox, "uid": 1, "flags": ["\\Seen"]}, fetch
assert live.event() == (fetch_id, {"command": "COUNTERS", "mailbox": inbox, "total": 1, "unseen": 0})

# Resuming after the EXISTS replays the FETCH and its counters, nothing before it; the
# header and the query parameter agree.
resumed = [
    EventStream(f"/users/{alice}/updates", headers={"Last-Event-ID": exists_id}),
    EventStream(f"/users/{alice}/updates?Last-Event-ID={exists_id}"),
]
for stream in resumed:
    assert stream.event() == (fetch_id, fetch)
    assert stream.event()[1]["command"] == "COUNTERS"

# A stream opened with no id starts after what already happened.
fresh = EventStream("/users/me/updates", token=user_token("streamer"))
assert fresh.block() == (["idling 1"], None, None)

# The next change reaches every stream once, and nothing replayed comes again before it.
assert imap.uid("STORE", "1", "-FLAGS", "(\\Seen)")[0] == "OK"
unseen_id, unseen = live.event()
assert unseen_id > fetch_id, (unseen_id, fetch_id)
assert unseen == {"command": "FETCH", "mailbox": inbox, "uid": 1, "flags": []}, unseen
for stream in [*resumed, fresh]:
    assert stream.event() == (unseen_id, unseen)
for stream in [live, *resumed, fresh]:
    assert stream.event() == (unseen_id, {"command": "COUNTERS", "mailbox": inbox, "total": 1, "unseen": 1})
    stream.close()
imap.logout()

expect("GET", f"/users/{alice}/updates", 403, "MissingPrivileges", token=bystander_token)
expect("GET", f"/users/{MISSING}/updates", 404, "UserNotFound")
expect("GET", f"/users/{alice}/updates?Last-Event-ID=nothex", 400, "InputValidationError")
expect("GET", f"/users/{alice}/updates", 400, "InputValidationError", headers={"Last-Event-ID": "12"})
print("change stream: events, resume, roles")
