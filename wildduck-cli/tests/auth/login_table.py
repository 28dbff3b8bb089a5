"""Tries every row of a login table on every protocol with stock clients, reports each
answer against the row's expectation, then finds every attempt in the users' auth logs.

Usage: login_table.py HOST IMAP_PORT POP3_PORT SMTP_PORT API_BASE ROOT_TOKEN TABLE.json

TABLE.json: {"rows": [...], "api_logins": {user: count}}, the latter the API logins made
before (to get the rows' tokens), which the auth logs show too. Each row: {"name", "user", "password", "expect": {"imap", "pop3", "master", "smtp"}, "source",
"require2fa", "requirePasswordChange", "reads_as_wrong_password"} with true (accepted) or
false (refused). IMAP is imaplib LOGIN, POP3 is poplib USER/PASS, `smtp` is smtplib AUTH on
the submission port, `master` is the API's POST /authenticate. Refusals that are not about
the account's state must read exactly as a wrong password does. An accepted `master` login
must carry the row's require2fa and requirePasswordChange. Every attempt on a user that
exists must then show in that user's GET /users/:user/authlog with its protocol, result and
(for a success) the credential that opened it.

A row with a "mechanism" (OAUTHBEARER or XOAUTH2) holds an API access token as its password:
IMAP is imaplib `authenticate`, POP3 is AUTH with the mechanism, `smtp` is smtplib `auth`,
each answering a refusal's JSON error challenge with the dummy response (RFC 7628 §3.2.3);
`master` is GET /users/:user with the token. Token use on the API is not in the auth log.
"""
import base64

import collections
import imaplib
import json
import poplib
import smtplib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

host = sys.argv[1]
imap_port, pop3_port, smtp_port = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
api, root = sys.argv[5], sys.argv[6]
table = json.load(open(sys.argv[7]))
rows = table["rows"]


def call(method, path, body=None, token=root):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Access-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def bearer_message(row, port):
    """The client's first SASL response of the row's mechanism."""
    if row["mechanism"] == "OAUTHBEARER":
        return f"n,a={row['user']},\x01host={host}\x01port={port}\x01auth=Bearer {row['password']}\x01\x01"
    return f"user={row['user']}\x01auth=Bearer {row['password']}\x01\x01"


def bearer_responder(row, port):
    """Answers the server's challenges: the message first, then (to the JSON error challenge
    of a refused token) the dummy response, ^A for OAUTHBEARER and empty for XOAUTH2."""
    sent = []

    def respond(challenge=None):
        if not sent:
            sent.append(True)
            return bearer_message(row, port)
        assert json.loads(challenge)["status"], challenge
        challenges.append(row["name"])
        return "\x01" if row["mechanism"] == "OAUTHBEARER" else ""

    return respond


# The rows whose token was refused with the error challenge, once per protocol.
challenges = []


def imap(row):
    client = imaplib.IMAP4(host, imap_port, timeout=30)
    try:
        if row["mechanism"]:
            respond = bearer_responder(row, imap_port)
            client.authenticate(row["mechanism"], lambda challenge: respond(challenge.decode()).encode())
        else:
            client.login(row["user"], row["password"])
        client.logout()
        return True, "OK"
    except imaplib.IMAP4.error as error:
        client.shutdown()
        return False, str(error)


def pop3_bearer(client, row):
    respond = bearer_responder(row, pop3_port)
    first = base64.b64encode(respond().encode()).decode()
    reply = client._shortcmd(f"AUTH {row['mechanism']} {first}")
    if reply.startswith(b"+ "):
        challenge = base64.b64decode(reply[2:]).decode()
        client._shortcmd(base64.b64encode(respond(challenge).encode()).decode())
        raise AssertionError(f"logged in after the refusal challenge {challenge!r}")


def pop3(row):
    client = poplib.POP3(host, pop3_port, timeout=30)
    try:
        if row["mechanism"]:
            pop3_bearer(client, row)
        else:
            client.user(row["user"])
            client.pass_(row["password"])
        client.quit()
        return True, "+OK"
    except poplib.error_proto as error:
        client.close()
        return False, str(error)


def smtp(row):
    client = smtplib.SMTP(host, smtp_port, timeout=30)
    try:
        # One AUTH PLAIN: login() would try LOGIN after a refused PLAIN, two attempts.
        client.ehlo()
        if row["mechanism"]:
            client.auth(row["mechanism"], bearer_responder(row, smtp_port))
        else:
            client.user, client.password = row["user"], row["password"]
            client.auth("PLAIN", client.auth_plain)
        client.quit()
        return True, "235"
    except smtplib.SMTPAuthenticationError as error:
        client.close()
        return False, f"{error.smtp_code} {error.smtp_error!r}"


def user_id(name):
    status, answer = call("GET", "/users/resolve/" + urllib.parse.quote(name))
    assert status == 200, answer
    return answer["id"]


def master(row):
    if row["mechanism"]:
        status, answer = call("GET", f"/users/{user_id(row['user'])}", token=row["password"])
        return status == 200, f"{status} {answer}"
    status, answer = call(
        "POST", "/authenticate", {"username": row["user"], "password": row["password"], "scope": "master"}
    )
    if status != 200:
        return False, f"{status} {answer}"
    flags = (answer["require2fa"] == ["totp"], answer["requirePasswordChange"])
    if flags != (row["require2fa"], row["requirePasswordChange"]):
        return True, f"flags {flags} (require2fa {answer['require2fa']!r})"
    return True, "200"


protocols = {"imap": imap, "pop3": pop3, "master": master, "smtp": smtp}
# The protocol an attempt is logged under.
logged_as = {"imap": "IMAP", "pop3": "POP3", "master": "API", "smtp": "SMTP"}
wrong_password_reply = {}
mismatches = []
expected_log = collections.defaultdict(collections.Counter)
print(f"{'row':32} " + " ".join(f"{p:>7}" for p in protocols))
for row in rows:
    cells = []
    for protocol, attempt in protocols.items():
        challenged = len(challenges)
        accepted, reply = attempt(row)
        expected = row["expect"][protocol]
        if row["mechanism"] and protocol != "master" and (len(challenges) > challenged) == accepted:
            mismatches.append(f"{row['name']} / {protocol}: {'accepted after' if accepted else 'refused without'} the error challenge")
        cells.append(("accept" if accepted else "refuse") + ("" if accepted == expected else "!"))
        if accepted != expected:
            mismatches.append(f"{row['name']} / {protocol}: {'accepted' if accepted else 'refused'} ({reply})")
        if accepted and reply.startswith("flags"):
            mismatches.append(f"{row['name']} / {protocol}: {reply}")
        # A refused token on the API is an invalid token or a foreign user, not a login.
        api_token = row["mechanism"] and protocol == "master"
        if not accepted and row["reads_as_wrong_password"] and not api_token:
            # Refused tokens read alike (imaplib words an AUTHENTICATE failure apart from a
            # LOGIN one).
            kind = (protocol, bool(row["mechanism"]))
            first = wrong_password_reply.setdefault(kind, (row["name"], reply))
            if first[1] != reply:
                mismatches.append(f"{row['name']} / {protocol}: refused with {reply!r}, but {first[0]} with {first[1]!r}")
        if api_token:
            continue  # the API's token check is not a login
        source = row["source"] if accepted else None
        expected_log[row["user"]][(logged_as[protocol], "success" if accepted else "fail", source)] += 1
    print(f"{row['name']:32} " + " ".join(f"{c:>7}" for c in cells))


for user, count in table["api_logins"].items():
    expected_log[user][("API", "success", "master")] += count


def logged(user_id):
    status, answer = call("GET", f"/users/{user_id}/authlog?limit=250")
    assert status == 200, answer
    return collections.Counter(
        (event.get("protocol"), event["result"], event.get("source"))
        for event in answer["results"]
        if event["action"] == "authentication"
    )


# Events are written beside the logins, not before their answers: wait for them a while.
for user, expected in expected_log.items():
    status, answer = call("GET", "/users/resolve/" + urllib.parse.quote(user))
    if status == 404:
        continue  # an unknown name is in nobody's log
    assert status == 200, answer
    found = logged(answer["id"])
    deadline = time.monotonic() + 30
    while found != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        found = logged(answer["id"])
    if found != expected:
        mismatches.append(f"auth log of {user}: {dict(found)} instead of {dict(expected)}")
    else:
        print(f"auth log of {user}: {sum(found.values())} attempts as made")

if mismatches:
    print("\n".join(["MISMATCHES:"] + mismatches))
    sys.exit(1)
print(f"{len(rows)} rows x {len(protocols)} protocols as expected")
