#!/usr/bin/env python3
"""Creates users through POST /v1/users over one keep-alive connection and prints their ids.

usage: load_users.py BASE_URL TOKEN [--claims] < users.ndjson > ids.txt
Reads the documents that shared/data/users.py writes (one JSON document a line). With --claims,
each person's given and family names are also their claims `givenName` and `familyName` (what
a MATTR-style claims search looks for). Standard library only.
"""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    base, token = sys.argv[1], sys.argv[2]
    claims = "--claims" in sys.argv[3:]
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started, n = time.monotonic(), 0
    for line in sys.stdin:
        if claims:
            person = json.loads(line)
            name = person.get("name") or {}
            person["claims"] = {"givenName": name.get("given"), "familyName": name.get("family")}
            line = json.dumps(person)
        conn.request("POST", "/v1/users", body=line.encode(), headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            sys.exit(f"create failed with {response.status}: {body.decode()}")
        print(json.loads(body)["id"])
        n += 1
    elapsed = time.monotonic() - started
    print(f"created {n} users in {elapsed:.1f} s ({n / elapsed:.0f}/s, one client)", file=sys.stderr)


if __name__ == "__main__":
    main()
