"""Signs requests with botocore's SigV4 signers and sends them with botocore's HTTP session.

Used by botocore_test.go. Reads a JSON spec on stdin:
  {"access_key", "secret_key", "region", "service", "time": "YYYYMMDDTHHMMSSZ",
   "requests": [{"method", "url", "headers": {...}, "body_b64", "presign_expires"}]}
and writes a JSON list with the status and body of each response.
"""
import base64
import datetime
import json
import sys

try:
    import botocore  # noqa: F401
except ImportError:
    # Debian's awscli vendors botocore; importing awscli makes `import botocore` find it.
    import awscli  # noqa: F401
    import botocore  # noqa: F401

import botocore.auth
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

spec = json.load(sys.stdin)
fixed = datetime.datetime.strptime(spec["time"], "%Y%m%dT%H%M%SZ")


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return fixed


class DatetimeModule:
    datetime = FixedDatetime


# Sign at the time the test chose, so that the test's verifier clock can be fixed too.
botocore.auth.datetime = DatetimeModule

creds = Credentials(spec["access_key"], spec["secret_key"])
session = URLLib3Session()
out = []
for r in spec["requests"]:
    body = base64.b64decode(r.get("body_b64") or "")
    req = AWSRequest(method=r["method"], url=r["url"], headers=dict(r.get("headers") or {}), data=body)
    if r.get("presign_expires"):
        SigV4QueryAuth(creds, spec["service"], spec["region"], expires=r["presign_expires"]).add_auth(req)
    else:
        SigV4Auth(creds, spec["service"], spec["region"]).add_auth(req)
    resp = session.send(req.prepare())
    out.append({"status": resp.status_code, "body": resp.content.decode("utf-8", "replace")})
json.dump(out, sys.stdout)
