#!/usr/bin/env bash
# Makes the STIR/SHAKEN PASSporT (RFC 8225, RFC 8588 "shaken") used by
# uac_content_call.xml: a fresh P-256 key from openssl, the JWS signing
# input signed with ES256 (openssl dgst -sha256, the DER signature turned
# into the raw r||s of RFC 7518 §3.4). Prints the full token and the
# compact form (RFC 8224 §7.3: header and payload left out). The key is
# thrown away: the token verifies against nothing anyone trusts.
# The numbers are fake (555-01xx); the test greps for them (canaries).
set -euo pipefail
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/key.pem"
hdr=$(printf '%s' '{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cert.example.invalid/sipsentinel-lab.pem"}' | b64url)
pay=$(printf '%s' '{"attest":"A","dest":{"tn":["15550107772"]},"iat":1795000000,"orig":{"tn":"15550107771"},"origid":"4437c7eb-8f7a-4f0e-a863-f53a0e60251a"}' | b64url)
printf '%s' "$hdr.$pay" | openssl dgst -sha256 -sign "$tmp/key.pem" -out "$tmp/sig.der"
sig=$(python3 - "$tmp/sig.der" <<'PY'
import sys, base64
d = open(sys.argv[1], 'rb').read()
# SEQUENCE { INTEGER r, INTEGER s } (short lengths for P-256)
assert d[0] == 0x30
i = 2
out = b''
for _ in range(2):
    assert d[i] == 0x02
    n = d[i + 1]
    v = d[i + 2:i + 2 + n].lstrip(b'\0')
    out += v.rjust(32, b'\0')
    i += 2 + n
print(base64.urlsafe_b64encode(out).decode().rstrip('='))
PY
)
echo "full: $hdr.$pay.$sig"
echo "compact: ..$sig"
