"""Tries every row of a login table on every protocol with stock clients and reports each
answer against the row's expectation.

Usage: login_table.py HOST IMAP_PORT POP3_PORT API_BASE ROOT_TOKEN TABLE.json

Each row: {"name", "user", "password", "expect": {"imap", "pop3", "master", "smtp"}} with
true (accepted) or false (refused). IMAP is imaplib LOGIN, POP3 is poplib USER/PASS, `master`
and `smtp` are the API's POST /authenticate with that scope (submission has no listener yet;
its scope is checked through the same rule). Refusals that are not about the account's state
must read exactly as a wrong password does.
"""

import imaplib
import json
import poplib
import sys
import urllib.error
import urllib.request

host, imap_port, pop3_port, api, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = json.load(open(sys.argv[6]))


def imap(user, password):
    client = imaplib.IMAP4(host, imap_port, timeout=30)
    try:
        client.login(user, password)
        client.logout()
        return True, "OK"
    except imaplib.IMAP4.error as error:
        client.shutdown()
        return False, str(error)


def pop3(user, password):
    client = poplib.POP3(host, pop3_port, timeout=30)
    try:
        client.user(user)
        client.pass_(password)
        client.quit()
        return True, "+OK"
    except poplib.error_proto as error:
        client.close()
        return False, str(error)


def api_login(scope):
    def attempt(user, password):
        body = json.dumps({"username": user, "password": password, "scope": scope}).encode()
        request = urllib.request.Request(api + "/authenticate", data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("X-Access-Token", root)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["success"] is True, "200"
        except urllib.error.HTTPError as error:
            return False, f"{error.code} {json.loads(error.read())}"

    return attempt


protocols = {"imap": imap, "pop3": pop3, "master": api_login("master"), "smtp": api_login("smtp")}
wrong_password_reply = {}
mismatches = []
print(f"{'row':32} " + " ".join(f"{p:>7}" for p in protocols))
for row in rows:
    cells = []
    for protocol, attempt in protocols.items():
        accepted, reply = attempt(row["user"], row["password"])
        expected = row["expect"][protocol]
        cells.append(("accept" if accepted else "refuse") + ("" if accepted == expected else "!"))
        if accepted != expected:
            mismatches.append(f"{row['name']} / {protocol}: {'accepted' if accepted else 'refused'} ({reply})")
        if not accepted and row.get("reads_as_wrong_password", True):
            first = wrong_password_reply.setdefault(protocol, (row["name"], reply))
            if first[1] != reply:
                mismatches.append(f"{row['name']} / {protocol}: refused with {reply!r}, but {first[0]} with {first[1]!r}")
    print(f"{row['name']:32} " + " ".join(f"{c:>7}" for c in cells))
if mismatches:
    print("\n".join(["MISMATCHES:"] + mismatches))
    sys.exit(1)
print(f"{len(rows)} rows x {len(protocols)} protocols as expected")
