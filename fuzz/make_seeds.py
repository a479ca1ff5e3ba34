#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/<target>/ (valid examples of what each
parser reads). Crash reproducers found later are added next to them by hand, named crash-*.
Run from anywhere: python3 fuzz/make_seeds.py."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- protobuf, by hand: enough of the wire format for StepCommand ----------------------------
def varint(n):
    out = b""
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    b = b if isinstance(b, bytes) else b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def command(step, kind, op, params_num, params, attempt=1, deadline=0):
    m = f_bytes(1, "shop.production") + f_bytes(2, step) + f_varint(3, attempt)
    m += f_varint(4, kind) + f_varint(5, op)
    if deadline:
        m += f_varint(6, deadline)
    m += f_varint(7, 1764900000000) + f_bytes(8, "coordinator@host:1")
    return m + f_bytes(params_num, params)


secret = lambda n: f_bytes(1, n)
db = lambda c, s: f_bytes(1, c) + f_bytes(2, secret(s))
app = f_bytes(1, "supervisor") + f_bytes(2, "shop-v4") + f_varint(4, 60)
dr = f_bytes(1, db("host=127.0.0.1 port=15432 dbname=shop user=shop", "SHOP_V3_DB"))
dr += f_bytes(2, db("postgresql://shop@127.0.0.1:15433/shop", "SHOP_V4_DB")) + f_varint(4, 1)
s3loc = f_bytes(1, "http://127.0.0.1:18080") + f_bytes(2, "shop") + f_bytes(3, "files/")
fs = f_bytes(1, f_bytes(1, "/srv/shop/files")) + f_bytes(2, f_bytes(2, s3loc))
fs += f_varint(3, 8) + f_varint(6, 2) + f_varint(8, 1)
zone = f_bytes(1, "ferry.test.") + f_bytes(2, "shop.ferry.test.") + f_bytes(4, secret("PDNS_KEY"))
dns = f_bytes(1, "ferry.test.") + f_bytes(2, "shop.ferry.test.") + f_varint(4, 60) + f_bytes(6, zone)

put("wire", "app_status", command("app-1", 4, 32, 13, app))
put("wire", "app_start_deadline", command("app-2", 4, 30, 13, app, attempt=3, deadline=1764909999000))
put("wire", "dump_restore_copy", command("dr-3", 1, 1, 10, dr))
put("wire", "file_sync_pass", command("fs-4", 2, 10, 11, fs))
put("wire", "dns_lower_ttl", command("dns-5", 3, 20, 12, dns))
put("wire", "wrong_kind", command("dns-6", 4, 20, 12, dns))
put("wire", "empty", b"")

# ---- specs ----------------------------------------------------------------------------------
with open(os.path.join(HERE, "..", "docs", "examples", "shop.json"), "rb") as f:
    put("spec", "shop", f.read())
put("spec", "not_json", "{\"app\": \"shop\", ")
put("spec", "empty_object", "{}")
put("spec", "two_envs_bad", '{"app":"x","environments":[{"name":"production"},{"name":"production"}]}')

# ---- API requests: "<method byte><url>\n<app parameter>\n<count>\n<body>" -----------------
# (The second line was the Authorization header before api.c authenticated ahead of parsing;
# the old seeds keep a token there, now read as the app parameter.)
GET, POST, DELETE = 0, 1, 2
auth = "Bearer fuzz-token"
def req(method, url, body="", authz=auth, count=""):
    return bytes([method]) + f"{url}\n{authz}\n{count}\n{body}".encode()
with open(os.path.join(HERE, "..", "docs", "examples", "shop.json")) as f:
    shop = f.read()
put("api", "create", req(POST, "/v1/apps", shop))
put("api", "create_bad_spec", req(POST, "/v1/apps", '{"app": 1}'))
put("api", "replicate", req(POST, "/v1/apps/shop/replicate", '{"env": "production"}'))
put("api", "stop_interrupt", req(POST, "/v1/apps/shop/stop", '{"interrupt": true, "env": null}'))
put("api", "migrate_get", req(GET, "/v1/apps/shop/migrate"))
put("api", "replay_step", req(POST, "/v1/apps/shop/replay", '{"step": "dr-3", "force": true}'))
put("api", "history", req(GET, "/v1/migrations/shop.production/history", count="25"))
put("api", "dead_letters", req(GET, "/v1/dead-letters", count="x"))
put("api", "dead_letter_replay", req(POST, "/v1/dead-letters/1764900000000-0/replay"))
put("api", "delete", req(DELETE, "/v1/apps/shop"))
put("api", "health_no_token", req(GET, "/v1/health", authz=""))
put("api", "wrong_token", req(GET, "/v1/apps", authz="Bearer nope"))
put("api", "deep_path", req(GET, "/v1/apps/a/b/c/d/e/f/g"))
put("api", "login", req(POST, "/v1/session", '{"token": "fy1.ops.AAAA"}', authz=""))
put("api", "add_user", req(POST, "/v1/users", '{"name": "ops", "role": "operator", "apps": ["shop"]}'))
put("api", "user_token", req(POST, "/v1/users/ops/token"))
put("api", "audit_app", req(GET, "/v1/audit", authz="shop", count="50"))
put("api", "page", req(GET, "/ui/app.js", authz=""))

# ---- S3 bodies: "<status byte><xml>" ---------------------------------------------------------
page = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        "<Name>bucket</Name><Prefix>dir/</Prefix><KeyCount>2</KeyCount>"
        "<IsTruncated>true</IsTruncated>"
        "<Contents><Key>dir/a &amp; b.txt</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
        "<ETag>&quot;900150983cd24fb0d6963f7d28e17f72&quot;</ETag><Size>3</Size></Contents>"
        "<Contents><Key>dir/x</Key><ETag>\"0123456789abcdef0123456789abcdef-3\"</ETag>"
        "<Size>10486784</Size></Contents>"
        "<NextContinuationToken>1/2+tok==</NextContinuationToken></ListBucketResult>")
put("s3_xml", "list_page", b"\x07" + page.encode())
put("s3_xml", "list_last", b"\x07" + b'<ListBucketResult><IsTruncated>false</IsTruncated>'
    b'<Contents><Key>z</Key><Size>0</Size><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag>'
    b'</Contents></ListBucketResult>')
put("s3_xml", "error_signature", b"\x01" + b'<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch'
    b"</Code><Message>The request signature we calculated does not match</Message></Error>")
put("s3_xml", "error_slowdown", b"\x05" + b"<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>")

# ---- XML-RPC --------------------------------------------------------------------------------
put("xmlrpc", "process_info",
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n"
    "<member>\n<name>name</name>\n<value><string>shop</string></value>\n</member>\n"
    "<member>\n<name>state</name>\n<value><int>20</int></value>\n</member>\n"
    "<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n"
    "<member>\n<name>description</name>\n<value><string>pid 1 &amp; &lt;ok&gt;</string></value>"
    "\n</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n")
put("xmlrpc", "array", '<?xml version="1.0"?><methodResponse><params><param><value><array><data>'
    "<value><boolean>1</boolean></value><value><i4>-3</i4></value><value>bare</value>"
    "<value><double>1.5</double></value></data></array></value></param></params></methodResponse>")
put("xmlrpc", "fault", "<?xml version='1.0'?><methodResponse><fault><value><struct>"
    "<member><name>faultCode</name><value><int>10</int></value></member>"
    "<member><name>faultString</name><value><string>BAD_NAME: x</string></value></member>"
    "</struct></value></fault></methodResponse>")

# ---- DNS answers: "<type byte><message>" (type byte % 4: A, AAAA, CNAME, TXT) ----------------
def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"

def dns_msg(qtype, answers, rcode=0, flags=0x8400):
    head = struct.pack(">HHHHHH", 0x1234, flags | rcode, 1, len(answers), 0, 0)
    q = qname("www.ferry.test") + struct.pack(">HH", qtype, 1)
    body = b""
    for rtype, rdata in answers:
        body += b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata
    return head + q + body

put("dns", "a", b"\x00" + dns_msg(1, [(1, bytes([192, 0, 2, 1])), (1, bytes([192, 0, 2, 2]))]))
put("dns", "aaaa", b"\x01" + dns_msg(28, [(28, bytes(15) + b"\x01")]))
put("dns", "cname", b"\x02" + dns_msg(5, [(5, b"\x03app" + b"\xc0\x10")]))
put("dns", "txt", b"\x03" + dns_msg(16, [(16, b"\x05hello\x05world")]))
put("dns", "nxdomain", b"\x00" + dns_msg(1, [], rcode=3))
put("dns", "pointer_loop", b"\x00" + dns_msg(1, []) [:12] + b"\xc0\x0c" + struct.pack(">HH", 1, 1))


# ---- pgoutput: the logical replication stream (PostgreSQL's "Logical Replication Message
# Formats"), as the walsender sends it and bare -------------------------------------------------
def po_text(v):
    v = v.encode()
    return b"t" + struct.pack(">I", len(v)) + v


def po_tuple(values):
    out = struct.pack(">H", len(values))
    for v in values:
        out += b"n" if v is None else (b"u" if v == "<unchanged>" else po_text(v))
    return out


def xlogdata(msg, start=0x1000, end=0x2000):
    return b"w" + struct.pack(">QQQ", start, end, 0) + msg


relation = (b"R" + struct.pack(">I", 16385) + b"public\0orders\0" + b"d" + struct.pack(">H", 2)
            + b"\x01id\0" + struct.pack(">Ii", 23, -1) + b"\x00note\0" + struct.pack(">Ii", 25, -1))
put("pgoutput", "begin", xlogdata(b"B" + struct.pack(">QQI", 0x1234, 1, 7)))
put("pgoutput", "commit", xlogdata(b"C\0" + struct.pack(">QQQ", 0x1234, 0x1260, 1)))
put("pgoutput", "relation", xlogdata(relation))
put("pgoutput", "insert", xlogdata(b"I" + struct.pack(">I", 16385) + b"N" + po_tuple(["1", None])))
put("pgoutput", "update_key", xlogdata(b"U" + struct.pack(">I", 16385) + b"K" + po_tuple(["1", None])
                                       + b"N" + po_tuple(["2", "<unchanged>"])))
put("pgoutput", "delete_full", xlogdata(b"D" + struct.pack(">I", 16385) + b"O" + po_tuple(["1", "x"])))
put("pgoutput", "truncate", xlogdata(b"T" + struct.pack(">IB", 2, 3) + struct.pack(">II", 16385, 16386)))
put("pgoutput", "type", xlogdata(b"Y" + struct.pack(">I", 16400) + b"public\0mood\0"))
put("pgoutput", "message", xlogdata(b"M\0" + struct.pack(">Q", 5) + b"ferry\0" + struct.pack(">I", 2) + b"hi"))
put("pgoutput", "keepalive", b"k" + struct.pack(">QQB", 0x3000, 0, 1))
put("pgoutput", "bare_relation", relation)
