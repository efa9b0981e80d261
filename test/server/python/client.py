"""A client of `attache serve` written with the Python standard library only
(urllib): stage a file, read it back, release it. Run as

    python3 client.py BASE_URL TOKEN FILE

It prints one JSON object: what each step answered. The test compares it
with what the server holds.
"""
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def call(base, token, method, path, body=None, headers=None):
    request = urllib.request.Request(base + path, data=body, method=method)
    request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def main():
    base, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, "rb") as f:
        data = f.read()
    query = urllib.parse.urlencode({"name": "report ü.pdf", "ttl": "1h", "checksum": hashlib.sha256(data).hexdigest()})
    status, _, body = call(base, token, "POST", "/v1/scopes/py%3Aclient/attachments?" + query, data, {"Content-Type": "application/octet-stream"})
    staged = json.loads(body)
    status_read, headers, content = call(base, token, "GET", "/v1/attachments/" + staged["id"] + "/content")
    status_range, _, part = call(base, token, "GET", "/v1/attachments/" + staged["id"] + "/content", headers={"Range": "bytes=0-3"})
    status_release, _, released = call(base, token, "DELETE", "/v1/attachments/" + staged["id"])
    status_gone, _, gone = call(base, token, "GET", "/v1/attachments/" + staged["id"])
    print(json.dumps({
        "stage": {"status": status, "id": staged["id"], "name": staged["name"], "size": staged["size"], "digest": staged["digest"]},
        "read": {"status": status_read, "sha256": hashlib.sha256(content).hexdigest(), "etag": headers.get("ETag"), "disposition": headers.get("Content-Disposition")},
        "range": {"status": status_range, "bytes": part.hex()},
        "release": {"status": status_release, "body": json.loads(released)},
        "gone": {"status": status_gone, "code": json.loads(gone)["error"]["code"]},
    }))


if __name__ == "__main__":
    main()
