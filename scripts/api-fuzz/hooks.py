"""schemathesis hooks for scripts/api-fuzz: how to put an NDJSON body on the wire.

`POST /v1/imports` takes `application/x-ndjson`, which schemathesis has no serializer for;
the schema describes the body as a string, sent as its UTF-8 bytes.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    if isinstance(value, str):
        return {"data": value.encode("utf-8")}
    # Out-of-schema bodies (negative cases): one JSON document a line.
    rows = value if isinstance(value, list) else [value]
    return {"data": "\n".join(json.dumps(r) for r in rows).encode("utf-8")}
