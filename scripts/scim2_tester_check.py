"""Runs scim2-tester's checks against a SCIM service and prints one line per check and a summary.

Usage: python scim2_tester_check.py BASE_URL TOKEN
Exits 1 when a check fails or errors.
"""

import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    counts = Counter(r.status.name for r in results)
    for r in results:
        where = f" [{r.resource_type}]" if getattr(r, "resource_type", None) else ""
        reason = f": {r.reason}" if r.status not in (Status.SUCCESS, Status.SKIPPED) and r.reason else ""
        print(f"{r.status.name:8} {r.title}{where}{reason}")
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    print(f"scim2-tester: {len(results)} checks: {summary}")
    failed = counts.get("ERROR", 0) + counts.get("CRITICAL", 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
