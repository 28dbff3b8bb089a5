"""`PUT /addresses/renameDomain`: users' and forwarded addresses, the DKIM key and domain
aliases move to the new domain with WildDuck's counts; root only; input errors; a clash
renames nothing."""

from client import create_user, expect, user_token

ora = create_user("ora", "ora@old.example")
expect("POST", f"/users/{ora}/addresses", 200, body={"address": "ora.two@old.example"})
pat = create_user("pat", "pat@other.example")
pat_token = user_token("pat")
expect("POST", "/addresses/forwarded", 200, body={"address": "team@old.example", "targets": ["x@remote.test"]})
dkim = expect("POST", "/dkim", 200, body={"domain": "old.example", "selector": "s1"})["id"]
alias = expect("POST", "/domainaliases", 200, body={"alias": "alias.example", "domain": "old.example"})["id"]


def rename(body, status=200, code=None, **kwargs):
    return expect("PUT", "/addresses/renameDomain", status, code, body=body, **kwargs)


rename({"oldDomain": "old.example"}, 400, "InputValidationError")
rename({"oldDomain": "old.example", "newDomain": 5}, 400, "InputValidationError")
rename({"oldDomain": "old.example", "newDomain": "not a domain"}, 400, "InputValidationError")
rename({"oldDomain": "old.example", "newDomain": "new.example"}, 403, token=pat_token)

# A clash: ora@new.example is pat's already; nothing moves.
taken = expect("POST", f"/users/{pat}/addresses", 200, body={"address": "ora@new.example"})["id"]
rename({"oldDomain": "old.example", "newDomain": "new.example"}, 400, "AddressExistsError")
assert expect("GET", "/addresses/resolve/ora@old.example", 200)["user"] == ora
expect("DELETE", f"/users/{pat}/addresses/{taken}", 200)

done = rename({"oldDomain": "OLD.example", "newDomain": "new.example"})
assert done == {"success": True, "modifiedAddresses": 3, "modifiedUsers": 1, "modifiedDkim": 1,
                "modifiedAliases": 1}, done
assert expect("GET", f"/users/{ora}", 200)["address"] == "ora@new.example"
mine = sorted(a["address"] for a in expect("GET", f"/users/{ora}/addresses", 200)["results"])
assert mine == ["ora.two@new.example", "ora@new.example"], mine
assert expect("GET", "/addresses/resolve/team@new.example", 200)["address"] == "team@new.example"
expect("GET", "/addresses/resolve/ora@old.example", 404)
assert expect("GET", "/dkim/resolve/new.example", 200)["id"] == dkim
expect("GET", "/dkim/resolve/old.example", 404)
assert expect("GET", f"/domainaliases/{alias}", 200)["domain"] == "new.example"
# Pat's address elsewhere is untouched; renaming again finds nothing.
assert expect("GET", f"/users/{pat}", 200)["address"] == "pat@other.example"
again = rename({"oldDomain": "old.example", "newDomain": "new.example"})
assert again["modifiedAddresses"] == 0 and again["modifiedDkim"] == 0, again
