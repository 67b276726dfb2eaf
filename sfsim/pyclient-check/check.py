"""Drives a running sfsim with simple-salesforce, a real Salesforce client from PyPI, and
exits non-zero on the first mismatch.

Usage: SFSIM_INFO='<the JSON line sfsim printed>' python check.py

simple-salesforce is given only instance_url and session_id (the access token) and no API
version, so its built-in default is what sfsim must answer. Over HTTPS the server's chain is
verified with the CA sfsim printed (ca_cert_path); verification is never turned off.
"""

import csv
import io
import json
import os
import sys
import tempfile
import traceback
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.api import DEFAULT_API_VERSION
from simple_salesforce.exceptions import SalesforceResourceNotFound

info = json.loads(os.environ.get("SFSIM_INFO", ""))
instance = urlparse(info["instance_url"])
ca = info.get("ca_cert_path")


def step(name):
    def run(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - any failure ends the check
            print(f"FAIL {name}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"ok   {name}", flush=True)
        return fn

    return run


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


class PlainHttpAdapter(HTTPAdapter):
    """simple-salesforce builds every URL as https:// (Salesforce serves nothing else); for the
    plain-HTTP run this adapter, mounted for the simulator's origin only, sends them as http://."""

    def send(self, request, **kwargs):
        request.url = "http://" + request.url[len("https://"):]
        return super().send(request, **kwargs)


# trust_env off: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment win over
# session.verify, and a proxy from the environment must not see the simulator's traffic.
session = requests.Session()
session.trust_env = False
if instance.scheme == "https":
    expect(ca, "sfsim over TLS printed no ca_cert_path")
    session.verify = ca
else:
    session.mount(f"https://{instance.netloc}/", PlainHttpAdapter())

sf = Salesforce(instance_url=info["instance_url"], session_id=info["access_token"], session=session)


def sim_counter(kind):
    url = f"{info['instance_url']}/__sim/counters"
    counters = session.get(url, timeout=30).json()
    return counters["by_kind"].get(kind, 0)


def org_count(sobject):
    return sf.query(f"SELECT COUNT() FROM {sobject}")["totalSize"]


if instance.scheme == "https":

    @step("TLS: the server's chain does not verify without sfsim's CA")
    def _():
        plain = requests.Session()
        plain.trust_env = False  # the default CA bundle, not one from the environment
        try:
            plain.get(info["instance_url"] + "/services/data", timeout=30)
        except requests.exceptions.SSLError:
            return
        raise AssertionError("a request without the CA was accepted")


@step(f"default API version {DEFAULT_API_VERSION} is listed and used")
def _():
    expect(sf.sf_version == DEFAULT_API_VERSION, f"sf_version {sf.sf_version}")
    versions = [v["version"] for v in session.get(f"{info['instance_url']}/services/data", timeout=30).json()]
    expect(DEFAULT_API_VERSION in versions, f"{DEFAULT_API_VERSION} not in {versions}")
    expect(sf.base_url.endswith(f"/services/data/v{DEFAULT_API_VERSION}/"), sf.base_url)


@step("describe Account")
def _():
    d = sf.Account.describe()
    expect(d["name"] == "Account", d["name"])
    fields = {f["name"]: f for f in d["fields"]}
    expect(fields["Name"]["type"] == "string", fields["Name"]["type"])
    expect(fields["Name"]["nillable"] is False, "Name is nillable")
    expect(fields["BillingStreet"]["compoundFieldName"] == "BillingAddress", fields["BillingStreet"])
    expect(fields["Id"]["type"] == "id", fields["Id"]["type"])
    names = [s["name"] for s in sf.describe()["sobjects"]]
    for n in ["Account", "Contact", "Invoice__c"]:
        expect(n in names, f"describe() lists {n}")


@step("query_all follows nextRecordsUrl over several 2000-record pages")
def _():
    before = sim_counter("query")
    res = sf.query_all("SELECT Id, Name, Owner.Name FROM Account ORDER BY Id")
    pages = sim_counter("query") - before
    count = org_count("Account")
    records = res["records"]
    expect(res["done"] is True, "done")
    expect(res["totalSize"] == count, f"totalSize {res['totalSize']} != COUNT() {count}")
    expect(len(records) == count, f"{len(records)} records != COUNT() {count}")
    expect(count > 4000, f"only {count} Accounts")
    expect(pages >= 3, f"{pages} query calls for {count} records")
    expect(len({r["Id"] for r in records}) == count, "duplicate Ids across pages")
    expect(records[0]["Owner"]["Name"], "Owner.Name")
    expect(records[0]["attributes"]["type"] == "Account", records[0]["attributes"])


@step("sf.Account create / get / update / delete")
def _():
    before = org_count("Account")
    created = sf.Account.create({"Name": "simple-salesforce One", "NumberOfEmployees": 5})
    expect(created["success"] is True and not created["errors"], created)
    rid = created["id"]
    expect(len(rid) == 18 and rid.startswith("001"), rid)
    rec = sf.Account.get(rid)
    expect(rec["Name"] == "simple-salesforce One", rec["Name"])
    expect(rec["NumberOfEmployees"] == 5, rec["NumberOfEmployees"])
    status = sf.Account.update(rid, {"NumberOfEmployees": 42, "BillingCity": "Lübeck"})
    expect(status == 204, f"update answered {status}")
    rec = sf.Account.get(rid)
    expect(rec["NumberOfEmployees"] == 42 and rec["BillingCity"] == "Lübeck", rec)
    expect(org_count("Account") == before + 1, "count after create")
    status = sf.Account.delete(rid)
    expect(status == 204, f"delete answered {status}")
    try:
        sf.Account.get(rid)
        raise AssertionError("a deleted record is still returned")
    except SalesforceResourceNotFound:
        pass
    expect(org_count("Account") == before, "count after delete")
    gone = sf.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{rid}'", include_deleted=True)
    expect(gone["totalSize"] == 1 and gone["records"][0]["IsDeleted"] is True, gone)


@step("sf.Account upsert by external id: created, then updated")
def _():
    status = sf.Account.upsert("External_Id__c/PY-1", {"Name": "simple-salesforce Upsert"})
    expect(status == 201, f"first upsert answered {status}")
    status = sf.Account.upsert("External_Id__c/PY-1", {"Name": "simple-salesforce Upserted"})
    expect(status == 200, f"second upsert answered {status} (200 with a body since API 46.0)")
    rec = sf.Account.get_by_custom_id("External_Id__c", "PY-1")
    expect(rec["Name"] == "simple-salesforce Upserted", rec["Name"])


@step("bulk2 query of several result pages through Sforce-Locator")
def _():
    count = org_count("Account")
    before = sim_counter("bulk_query")
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, BillingCity FROM Account", max_records=1000))
    ids = []
    for page in pages:
        rows = list(csv.DictReader(io.StringIO(page)))
        expect(0 < len(rows) <= 1000, f"a page of {len(rows)} rows")
        ids.extend(r["Id"] for r in rows)
    expect(len(pages) == -(-count // 1000), f"{len(pages)} pages for {count} records")
    expect(len(ids) == count, f"bulk2 query returned {len(ids)} rows, COUNT() is {count}")
    expect(len(set(ids)) == count, "duplicate Ids across pages")
    expect(all(len(i) == 18 for i in ids), "18-character Ids")
    expect(sim_counter("bulk_query") - before >= len(pages) + 2, "bulk query calls counted")


@step("bulk2 insert from a CSV file, with one failing row")
def _():
    before = org_count("Contact")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "contacts.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write("FirstName,LastName,Email\n")
            f.write("Ada,Lovelace,ada@example.com\n")
            f.write("Grace,,grace@example.com\n")
            f.write('Alan,Turing,"alan@example.com"\n')
            f.write("Émilie,du Châtelet,emilie@example.com\n")
        results = sf.bulk2.Contact.insert(csv_file=path)
    expect(len(results) == 1, results)
    r = results[0]
    expect(r["numberRecordsTotal"] == 4, r)
    expect(r["numberRecordsProcessed"] == 4, r)
    expect(r["numberRecordsFailed"] == 1, r)
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(r["job_id"]))))
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(r["job_id"]))))
    expect(len(ok) == 3 and all(x["sf__Created"] == "true" and len(x["sf__Id"]) == 18 for x in ok), ok)
    expect(len(failed) == 1 and "REQUIRED_FIELD_MISSING" in failed[0]["sf__Error"], failed)
    expect(failed[0]["Email"] == "grace@example.com", failed)
    expect(org_count("Contact") == before + 3, "Contact count after the load")
    q = sf.query("SELECT Id, FirstName FROM Contact WHERE LastName = 'du Châtelet'")
    expect(q["totalSize"] == 1 and q["records"][0]["FirstName"] == "Émilie", q)


print(f"simple-salesforce accepted sfsim at {info['instance_url']}")
