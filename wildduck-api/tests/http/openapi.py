"""GET /openapi.json against WildDuck 1.46.1's own document (`npm pack`ed here, so npm is
needed): every operation we list is WildDuck's, with its operationId, and is answered by
a route; every WildDuck operation we leave out is answered by no route (so the list can
not miss one we serve). Prints the operations we do not serve."""

import json
import re
import subprocess
import tarfile
import tempfile

from client import MISSING, call


def routed(method, path):
    """Whether a route answers: not the fallback's 404, nor 405 for a path we know."""
    url = re.sub(r"\{[^}]+\}", MISSING, path)
    body = {} if method in ("post", "put") else None
    status, answer = call(method.upper(), url, body=body)
    fallback = status == 404 and isinstance(answer, dict) and answer.get("code") == "ResourceNotFound"
    return not (fallback or status == 405)


def wildduck_document():
    with tempfile.TemporaryDirectory() as work:
        packed = subprocess.run(
            ["npm", "pack", "--silent", "wildduck@1.46.1"], cwd=work, check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1]
        with tarfile.open(f"{work}/{packed}") as archive:
            return json.load(archive.extractfile("package/docs/api/openapidocs.json"))


def operations(document):
    return {
        (method, path): operation["operationId"]
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


status, ours_document = call("GET", "/openapi.json")
assert status == 200, (status, ours_document)
assert ours_document["openapi"].startswith("3."), ours_document
ours = operations(ours_document)
theirs = operations(wildduck_document())
assert len(theirs) == 117, len(theirs)

invented = {key: op for key, op in ours.items() if theirs.get(key) != op}
assert not invented, f"not WildDuck's operations: {invented}"

listed_but_unrouted = [key for key in ours if not routed(*key)]
assert not listed_but_unrouted, f"listed in /openapi.json but not served: {listed_but_unrouted}"

unlisted = sorted(key for key in theirs if key not in ours)
routed_but_unlisted = [key for key in unlisted if routed(*key)]
assert not routed_but_unlisted, f"served but missing from /openapi.json: {routed_but_unlisted}"

print(f"{len(ours)} of WildDuck's {len(theirs)} operations served; not served:")
for method, path in unlisted:
    print(f"  {method.upper()} {path} ({theirs[(method, path)]})")
