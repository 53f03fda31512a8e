"""Fuzz ``sforg-sim serve`` over HTTPS and count the 500s (issue 14's probe, as a script).

Starts ``sforg-sim serve`` on 127.0.0.1 as a subprocess, then sends

- ``--soql`` random SOQL strings (default 20,000) through ``GET query?q=`` (token soup,
  mutated seeds, deep parentheses, long OR chains, huge numbers, lone surrogates), and
- ``--rest`` malformed REST bodies (default 8,000) of the classes the issue names: lone
  surrogates in values and names, deep nesting, wide arrays, huge numbers, chunked
  transfer encoding, Bulk 2.0 ingest CSV with oversized fields, Bulk 2.0 query jobs with
  deep parentheses, composite subrequests to CSV resources,

and prints how many answers were HTTP 500 (the bar is zero), plus the first few of them.
Usage::

    .venv/bin/python benchmarks/fuzz_server.py [--soql 20000] [--rest 8000] [--seed 0]

Exit status 1 when any 500 was seen. Wall time: a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

import requests

B = "/services/data/v59.0"
TOKENS = ["SELECT", "FROM", "WHERE", "Id", "Name", "Account", "Opportunity", ",", "(", ")",
          "=", "!=", "<", "LIKE", "IN", "NOT", "AND", "OR", "'x'", "'a\\'b'", "5", "-1.5",
          "NULL", "TRUE", "TODAY", "LAST_N_DAYS:3", "2026-01-01", "ORDER BY", "GROUP BY",
          "LIMIT", "OFFSET", "COUNT(", "COUNT()", ".", ":x", "\\", "\"", "$", "\n",
          "NULLS FIRST", "DESC", "HAVING", "FIELDS(ALL)", "99999999999999999999",
          "'\\ud800'", "'\ud800'", "StageName", "External_ID__c", "Account.Name", "TYPEOF"]
SEEDS = ["SELECT Id, Name FROM Account WHERE Name LIKE 'a%' ORDER BY Name LIMIT 5",
         "SELECT StageName, COUNT(Id) cnt FROM Opportunity GROUP BY StageName",
         "SELECT Id FROM Opportunity WHERE External_ID__c > 'externalOpp0000001' "
         "ORDER BY External_ID__c LIMIT 500"]


def soql(rnd: random.Random) -> str:
    """One fuzzed SOQL string."""
    k = rnd.random()
    if k < 0.45:
        return " ".join(rnd.choice(TOKENS) for _ in range(rnd.randint(1, 16)))
    if k < 0.7:
        s = list(rnd.choice(SEEDS))
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(s) + 1)
            s[i:i + rnd.randint(0, 3)] = rnd.choice(TOKENS)
        return "".join(s)
    if k < 0.8:
        n = rnd.randint(50, 600)
        return f"SELECT Id FROM Account WHERE {'(' * n}Name = 'a'{')' * n}"
    if k < 0.88:
        return "SELECT Id FROM Account WHERE " + " OR ".join(
            f"Name = 'n{i}'" for i in range(rnd.randint(100, 3000)))
    if k < 0.94:
        return f"SELECT Id FROM Account LIMIT {'9' * rnd.randint(20, 6000)}"
    lone = rnd.choice(["\ud800", "x\udfff"])
    return f"SELECT Id FROM Account WHERE Name = '{lone}'"


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def rest_case(rnd: random.Random, job_ids: list[str]) -> tuple[str, str, Any, str]:
    """``(method, path, body, content type)``; a body that is an iterator is chunked."""
    sur = rnd.choice(["\\ud800", "x\\udfff", "\\udc00\\ud800"])
    k = rnd.randrange(10)
    if k == 0:
        return "POST", f"{B}/sobjects/Account", f'{{"Name": "{sur}"}}'.encode(), "json"
    if k == 1:
        return "POST", f"{B}/sobjects/Account", f'{{"Na{sur}me": 1}}'.encode(), "json"
    if k == 2:
        path = rnd.choice([f"{B}/sobjects/Account", f"{B}/composite",
                           f"{B}/composite/sobjects", f"{B}/jobs/query"])
        return "POST", path, _deep(rnd.randint(100, 5000)), "json"
    if k == 3:
        n = rnd.randint(200, 50000)
        return "POST", f"{B}/composite/sobjects", json.dumps(
            {"records": [{"attributes": {"type": "Account"}, "Name": f"w{i}"}
                         for i in range(n % 400)], "pad": list(range(n))}).encode(), "json"
    if k == 4:
        digits = "9" * rnd.randint(4000, 20000)
        return "POST", f"{B}/sobjects/Account", f'{{"Name": {digits}}}'.encode(), "json"
    if k == 5:
        body = rnd.choice([f'{{"Name": "{sur}"}}'.encode(), _deep(3000),
                           b'{"Name": ' + b"9" * 5000 + b"}", b'{"Name": "chunk"}'])
        return "POST", f"{B}/sobjects/Account", iter([body[:7], body[7:]]), "json"
    if k == 6:
        n = rnd.randint(100, 600)
        q = f"SELECT Id FROM Account WHERE {'(' * n}Name = 'a'{')' * n}"
        return "POST", f"{B}/jobs/query", json.dumps({"operation": "query",
                                                      "query": q}).encode(), "json"
    if k == 7 and job_ids:
        return "POST", f"{B}/composite", json.dumps({"compositeRequest": [
            {"method": "GET", "url": f"{B}/jobs/query/{rnd.choice(job_ids)}/results",
             "referenceId": "r"}]}).encode(), "json"
    if k == 8:
        return "POST", f"{B}/composite", json.dumps({"compositeRequest": [
            {"method": "GET", "url": f"{B}/query?q=SELECT+Id+FROM+Account",
             "referenceId": f"q{i}"} for i in range(rnd.randint(1, 30))]}).encode(), "json"
    return "POST", f"{B}/sobjects/Account", rnd.choice(
        [b"{", b"\xff\xfe", b'{"Name": 1e999999}', b'{"a":' * 2000 + b"1" + b"}" * 2000,
         f'{{"{sur}": "{sur}"}}'.encode()]), "json"


def start_server(records: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``sforg-sim serve`` in a subprocess; its printed connection lines."""
    code = ("import sys; from sforg_sim.cli import main; "
            f"sys.exit(main(['serve', '--scenario', 'small', '--records', '{records}']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    env: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith("# serving"):
            break
        k, sep, v = line.strip().partition("=")
        if sep and not k.startswith("#"):
            env[k] = v
    if "SF_INSTANCE_URL" not in env:
        proc.kill()
        raise SystemExit("fuzz_server: serve did not start")
    return proc, env


def _ingest_oversized(s: requests.Session, url: str, headers: dict[str, str]) -> list[int]:
    job = s.post(url + f"{B}/jobs/ingest", json={"operation": "insert", "object": "Account"},
                 headers=headers, timeout=60).json()["id"]
    out = [s.put(url + f"{B}/jobs/ingest/{job}/batches",
                 data=b"Name\n" + b"a" * 140_000 + b"\n",
                 headers={**headers, "Content-Type": "text/csv"}, timeout=60).status_code,
           s.patch(url + f"{B}/jobs/ingest/{job}", json={"state": "UploadComplete"},
                   headers=headers, timeout=60).status_code]
    for tail in ("", "/unprocessedrecords", "/failedResults"):
        out.append(s.get(url + f"{B}/jobs/ingest/{job}{tail}", headers=headers,
                         timeout=60).status_code)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the probe; print the counts; exit 1 on any 500."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--soql", type=int, default=20_000)
    p.add_argument("--rest", type=int, default=8_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--records", type=int, default=40)
    args = p.parse_args(argv)
    rnd = random.Random(args.seed)
    proc, env = start_server(args.records)
    url = env["SF_INSTANCE_URL"]
    s = requests.Session()
    s.trust_env = False
    s.verify = env["REQUESTS_CA_BUNDLE"]
    auth = {"Authorization": "Bearer " + env["SF_ACCESS_TOKEN"]}
    statuses: Counter[int] = Counter()
    fives: list[str] = []
    t0 = time.perf_counter()
    try:
        for _ in range(args.soql):
            q = soql(rnd)
            r = s.get(url + f"{B}/query?q=" + quote(q, safe="", errors="surrogatepass"),
                      headers=auth, timeout=120)
            statuses[r.status_code] += 1
            if r.status_code >= 500:
                fives.append(f"SOQL {q[:120]!r} -> {r.text[:200]}")
        t1 = time.perf_counter()
        jobs = [s.post(url + f"{B}/jobs/query", headers=auth, timeout=60,
                       json={"operation": "query", "query": "SELECT Id, Name FROM Account"}
                       ).json()["id"] for _ in range(3)]
        rest: Counter[int] = Counter()
        for code in _ingest_oversized(s, url, {**auth, "Content-Type": "application/json"}):
            rest[code] += 1
            if code >= 500:
                fives.append("Bulk ingest with a 140,000-character field -> 500")
        for _ in range(args.rest):
            method, path, body, _ = rest_case(rnd, jobs)
            r = s.request(method, url + path, data=body, timeout=120,
                          headers={**auth, "Content-Type": "application/json"})
            rest[r.status_code] += 1
            if r.status_code >= 500:
                shown = body if isinstance(body, bytes) else b"<chunked>"
                fives.append(f"REST {method} {path} {shown[:80]!r} -> {r.text[:200]}")
        t2 = time.perf_counter()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"SOQL strings: {args.soql:,} in {t1 - t0:.0f} s; statuses {dict(statuses)}")
    print(f"REST bodies:  {sum(rest.values()):,} in {t2 - t1:.0f} s; statuses {dict(rest)}")
    n500 = statuses[500] + sum(v for k, v in rest.items() if k >= 500)
    print(f"HTTP 500s: {n500}")
    for line in fives[:10]:
        print("  " + line)
    return 1 if n500 else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
