#!/usr/bin/env bash
# Smoke test for the test OpenID Connect provider (provider.mjs): starts real provider processes
# and checks every feature the integration tests rely on with curl, python3 (JSON, JWT decoding)
# and node (signature checks, a fallback certificate generator). Exits non-zero on the first
# mismatch, printing what was expected, what came back and the provider's stderr.
#
#   bash tests/oidc-provider/smoke.sh          (run `scripts/oidc-provider.sh install` first)
#   SMOKE_NODE_CERT=1 bash tests/oidc-provider/smoke.sh   # make the TLS cert with node, not openssl
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AUDIENCE="https://statesight.test/api"
DEVICE_GRANT="urn:ietf:params:oauth:grant-type:device_code"

for tool in node curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "smoke: $tool is required" >&2; exit 1; }
done
[[ -d "$HERE/node_modules/oidc-provider" ]] \
  || { echo "smoke: dependencies missing; run scripts/oidc-provider.sh install" >&2; exit 1; }

TMP="$(mktemp -d)"
declare -A PIDS=() FDS=()
CURRENT=""   # name of the provider whose stderr is shown on failure
PASSED=0

cleanup() {
  local name
  for name in "${!PIDS[@]}"; do
    kill "${PIDS[$name]}" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  if [[ -n "$CURRENT" && -f "$TMP/$CURRENT/stderr" ]]; then
    printf -- '--- stderr of provider %s ---\n' "$CURRENT" >&2
    tail -n 40 "$TMP/$CURRENT/stderr" >&2
  fi
  exit 1
}
ok() { PASSED=$((PASSED + 1)); printf '  ok  %s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

expect_eq() { # actual expected what
  [[ "$1" == "$2" ]] || fail "$3: expected [$2], got [$1]"
  ok "$3"
}
expect_ne() { # actual unexpected what
  [[ "$1" != "$2" ]] || fail "$3: did not expect [$2]"
  ok "$3"
}
expect_match() { # actual regex what
  [[ "$1" =~ $2 ]] || fail "$3: [$1] does not match /$2/"
  ok "$3"
}

# j JSON EXPR: evaluates a python expression on the parsed JSON `d`; strings print raw,
# everything else as JSON (so booleans are true/false, missing keys are null via .get()).
j() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
v = eval(sys.argv[2], {"d": d, "json": json})
print(v if isinstance(v, str) else json.dumps(v))
PY
}

# jwt TOKEN header|payload: the decoded JSON of one part of a compact JWS
jwt() {
  python3 - "$1" "$2" <<'PY'
import base64, json, sys
parts = sys.argv[1].split(".")
if len(parts) != 3:
    sys.exit("not a compact JWS: %r" % sys.argv[1][:40])
raw = parts[0 if sys.argv[2] == "header" else 1]
print(json.dumps(json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))))
PY
}

# verify TOKEN KEYFILE: prints "valid" when the RS256 signature verifies with the key selected by
# the token's kid in the JWKS file, or with the PEM public key file; prints the reason otherwise.
cat >"$TMP/verify.mjs" <<'JS'
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
const [token, keyFile] = process.argv.slice(2);
const [h, p, s] = token.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
const text = fs.readFileSync(keyFile, 'utf8');
let key;
if (text.startsWith('-----BEGIN')) {
  key = crypto.createPublicKey(text);
} else {
  const jwk = JSON.parse(text).keys.find((k) => k.kid === header.kid);
  if (!jwk) { console.log(`no key with kid ${header.kid}`); process.exit(0); }
  key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
}
const valid = crypto.verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
console.log(valid ? 'valid' : 'invalid signature');
JS
verify() { node "$TMP/verify.mjs" "$1" "$2"; }

# req METHOD URL [curl args...]: sets STATUS and BODY
req() {
  local method=$1 url=$2; shift 2
  STATUS=$(curl -sS -o "$TMP/body" -w '%{http_code}' -X "$method" "$@" "$url") \
    || fail "curl $method $url failed"
  BODY="$(cat "$TMP/body")"
}
post_json() { req POST "$1" -H 'content-type: application/json' --data "$2" "${@:3}"; }

# start_provider NAME [provider options...]: starts provider.mjs with its stdin on a FIFO we hold
# open, waits for the ready line and sets ISSUER and PORT.
start_provider() {
  local name=$1; shift
  local dir="$TMP/$name" fd line
  mkdir -p "$dir"
  mkfifo "$dir/stdin"
  # The redirection from the FIFO blocks in the child until we open the writing end below.
  node "$HERE/provider.mjs" "$@" <"$dir/stdin" >"$dir/stdout" 2>"$dir/stderr" &
  PIDS[$name]=$!
  exec {fd}>"$dir/stdin"
  FDS[$name]=$fd
  CURRENT=$name
  for _ in $(seq 1 150); do
    if [[ -s "$dir/stdout" ]] && grep -q $'\n' "$dir/stdout"; then break; fi
    kill -0 "${PIDS[$name]}" 2>/dev/null || fail "provider $name exited before it was ready"
    sleep 0.1
  done
  line="$(head -n 1 "$dir/stdout")"
  [[ -n "$line" ]] || fail "provider $name printed no ready line within 15s"
  ISSUER="$(j "$line" 'd["issuer"]')"
  PORT="$(j "$line" 'd["port"]')"
  expect_eq "$line" "{\"issuer\":\"$ISSUER\",\"port\":$PORT}" "[$name] ready line is exactly {issuer, port}"
}

# stop_by_eof NAME: closes the provider's stdin and expects it to exit within 5 seconds
stop_by_eof() {
  local name=$1 pid=${PIDS[$1]}
  eval "exec ${FDS[$name]}>&-"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "provider $name still running 5s after stdin EOF"
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  unset "PIDS[$name]"
  expect_eq "$rc" 0 "[$name] exits with status 0 when stdin reaches EOF"
  grep -q 'shutting down (stdin closed)' "$TMP/$name/stderr" || fail "[$name] did not log its stdin shutdown"
}

discover() { # sets DISCO and the endpoint variables
  req GET "$ISSUER/.well-known/openid-configuration" "$@"
  expect_eq "$STATUS" 200 "discovery answers 200"
  DISCO="$BODY"
  DEVICE_EP="$(j "$DISCO" 'd.get("device_authorization_endpoint", "")')"
  TOKEN_EP="$(j "$DISCO" 'd.get("token_endpoint", "")')"
  JWKS_URI="$(j "$DISCO" 'd.get("jwks_uri", "")')"
  REVOCATION_EP="$(j "$DISCO" 'd.get("revocation_endpoint", "")')"
}

# device_start [extra curl args]: sets DEVICE_CODE, USER_CODE, DEVICE_RESPONSE
device_start() {
  req POST "$DEVICE_EP" -d "client_id=$CONSOLE" --data-urlencode "scope=openid offline_access" "$@"
  [[ "$STATUS" == 200 ]] || fail "device authorization: HTTP $STATUS $BODY"
  DEVICE_RESPONSE="$BODY"
  DEVICE_CODE="$(j "$BODY" 'd["device_code"]')"
  USER_CODE="$(j "$BODY" 'd["user_code"]')"
}
poll() { # poll DEVICE_CODE [curl args]
  local code=$1; shift
  req POST "$TOKEN_EP" -d "grant_type=$DEVICE_GRANT" -d "device_code=$code" -d "client_id=$CONSOLE" "$@"
}
save_jwks() { # save_jwks FILE
  req GET "$JWKS_URI" "${@:2}"
  expect_eq "$STATUS" 200 "jwks answers 200"
  printf '%s' "$BODY" >"$1"
}
check_access_token() { # TOKEN SUB CLIENT_ID KID what
  local header payload
  header="$(jwt "$1" header)"; payload="$(jwt "$1" payload)"
  expect_eq "$(j "$header" 'd.get("typ")')" "at+jwt" "$5: header typ is at+jwt"
  expect_eq "$(j "$header" 'd.get("alg")')" "RS256" "$5: header alg is RS256"
  expect_eq "$(j "$header" 'd.get("kid")')" "$4" "$5: header kid is the current signing key"
  expect_eq "$(j "$payload" 'd.get("iss")')" "$ISSUER" "$5: iss is the issuer"
  expect_eq "$(j "$payload" 'd.get("aud")')" "$AUDIENCE" "$5: aud is the audience"
  expect_eq "$(j "$payload" 'd.get("sub")')" "$2" "$5: sub is $2"
  expect_eq "$(j "$payload" 'd.get("client_id")')" "$3" "$5: client_id is $3"
}

CONSOLE=statesight-console
MACHINE=statesight-ci
SECRET=statesight-ci-secret

# ---------------------------------------------------------------------------------------------
section "bad options are refused"
set +e
node "$HERE/provider.mjs" --no-such-option </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
set -e
expect_eq "$rc" 2 "unknown option exits with status 2"
expect_eq "$(cat "$TMP/bad.out")" "" "nothing on stdout for a bad option"

# ---------------------------------------------------------------------------------------------
section "plain HTTP provider with defaults"
start_provider main
expect_match "$ISSUER" '^http://127\.0\.0\.1:[0-9]+$' "issuer is http://127.0.0.1:PORT"

req GET "$ISSUER/test/health"
expect_eq "$STATUS:$BODY" '200:{"ok":true}' "GET /test/health"
req GET "$ISSUER/test/nope"
expect_eq "$STATUS" 404 "unknown test endpoint is 404"
req GET "$ISSUER/test/device/approve"
expect_eq "$STATUS" 405 "wrong method on a test endpoint is 405"

discover
expect_eq "$(j "$DISCO" 'd["issuer"]')" "$ISSUER" "discovery issuer"
expect_eq "$DEVICE_EP" "$ISSUER/device/auth" "device_authorization_endpoint"
expect_eq "$TOKEN_EP" "$ISSUER/token" "token_endpoint"
expect_eq "$JWKS_URI" "$ISSUER/jwks" "jwks_uri"
expect_eq "$REVOCATION_EP" "$ISSUER/token/revocation" "revocation_endpoint"
expect_eq "$(j "$DISCO" '"'"$DEVICE_GRANT"'" in d["grant_types_supported"] and "client_credentials" in d["grant_types_supported"]')" true "grant types advertised"

save_jwks "$TMP/jwks1.json"
JWKS1="$(cat "$TMP/jwks1.json")"
expect_eq "$(j "$JWKS1" 'len(d["keys"])')" 1 "one key in the JWKS at start"
KID1="$(j "$JWKS1" 'd["keys"][0]["kid"]')"
expect_eq "$(j "$JWKS1" '[d["keys"][0].get(k) for k in ("kty", "alg", "use")]')" '["RSA", "RS256", "sig"]' "JWKS key is RSA / RS256 / sig"
expect_eq "$(j "$JWKS1" 'any(k in d["keys"][0] for k in ("d", "p", "q"))')" false "JWKS carries no private key material"
expect_eq "$(j "$JWKS1" 'len(__import__("base64").urlsafe_b64decode(d["keys"][0]["n"] + "==")) * 8')" 2048 "RSA key is 2048 bits"

# ---------------------------------------------------------------------------------------------
section "device flow"
device_start --data-urlencode "resource=$AUDIENCE"
expect_eq "$(j "$DEVICE_RESPONSE" 'sorted(d)')" '["device_code", "expires_in", "user_code", "verification_uri", "verification_uri_complete"]' "device authorization response fields (no interval by default)"
expect_match "$USER_CODE" '^[A-Z]{4}-[A-Z]{4}$' "user code looks like XXXX-XXXX"
expect_eq "$(j "$DEVICE_RESPONSE" 'd["verification_uri"]')" "$ISSUER/device" "verification_uri"

poll "$DEVICE_CODE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:authorization_pending" "poll before approval is authorization_pending"

post_json "$ISSUER/test/device/approve" '{"user_code":"ZZZZ-ZZZZ","account_id":"alice"}'
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "404:not_found" "approving an unknown user code is a 404 JSON"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":""}'
expect_eq "$STATUS" 400 "empty account_id is refused"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":"alice"}'
expect_eq "$STATUS:$(j "$BODY" 'd["approved"]')" "200:true" "approve the user code for alice"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":"alice"}'
expect_eq "$STATUS" 409 "approving twice is a 409"

poll "$DEVICE_CODE"
expect_eq "$STATUS" 200 "poll after approval returns tokens"
TOKENS="$BODY"
AT="$(j "$TOKENS" 'd["access_token"]')"
check_access_token "$AT" alice "$CONSOLE" "$KID1" "device access token"
AT_PAYLOAD="$(jwt "$AT" payload)"
expect_eq "$(j "$AT_PAYLOAD" 'd["exp"] - d["iat"]')" 300 "access token lives 300s by default"
expect_eq "$(j "$TOKENS" 'd["expires_in"]')" 300 "expires_in is 300"
expect_eq "$(j "$TOKENS" 'd["token_type"]')" Bearer "token_type Bearer"
expect_eq "$(verify "$AT" "$TMP/jwks1.json")" valid "device access token verifies against the JWKS"
ID_TOKEN="$(j "$TOKENS" 'd.get("id_token") or ""')"
[[ -n "$ID_TOKEN" ]] || fail "no id_token for scope openid: $TOKENS"
ID_PAYLOAD="$(jwt "$ID_TOKEN" payload)"
expect_eq "$(j "$ID_PAYLOAD" '[d.get(k) for k in ("iss", "aud", "sub", "email", "name")]')" \
  "[\"$ISSUER\", \"$CONSOLE\", \"alice\", \"alice@example.test\", \"alice\"]" "id_token iss/aud/sub/email/name"
expect_eq "$(verify "$ID_TOKEN" "$TMP/jwks1.json")" valid "id_token verifies against the JWKS"
RT="$(j "$TOKENS" 'd.get("refresh_token") or ""')"
[[ -n "$RT" ]] || fail "no refresh_token for the console client: $TOKENS"
ok "refresh_token issued"

section "device flow without resource, user code typed sloppily"
device_start
SLOPPY="$(tr 'A-Z' 'a-z' <<<"$USER_CODE" | tr -d '-')"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$SLOPPY"'","account_id":"bob"}'
expect_eq "$STATUS" 200 "approve with lower-case user code without dash"
poll "$DEVICE_CODE"
expect_eq "$STATUS" 200 "tokens for bob"
check_access_token "$(j "$BODY" 'd["access_token"]')" bob "$CONSOLE" "$KID1" "device token without resource param"
BOB_RT="$(j "$BODY" 'd["refresh_token"]')"

section "device code replay"
device_start
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":"zed"}'
poll "$DEVICE_CODE"
expect_eq "$STATUS" 200 "tokens for zed"
ZED_RT="$(j "$BODY" 'd["refresh_token"]')"
poll "$DEVICE_CODE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:invalid_grant" "a device code is single use"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$ZED_RT" -d "client_id=$CONSOLE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:invalid_grant" "replaying a device code revokes the tokens of its grant"

# ---------------------------------------------------------------------------------------------
section "refresh token grant"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$RT" -d "client_id=$CONSOLE"
expect_eq "$STATUS" 200 "refresh without resource"
check_access_token "$(j "$BODY" 'd["access_token"]')" alice "$CONSOLE" "$KID1" "refreshed access token"
RT2="$(j "$BODY" 'd.get("refresh_token") or ""')"
expect_ne "$RT2" "" "refresh returns a refresh token"
expect_ne "$RT2" "$RT" "refresh token rotated"
expect_eq "$(j "$(jwt "$(j "$BODY" 'd["id_token"]')" payload)" 'd.get("email")')" alice@example.test "refreshed id_token keeps email"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$RT2" -d "client_id=$CONSOLE" --data-urlencode "resource=$AUDIENCE"
expect_eq "$STATUS" 200 "refresh with explicit resource"
check_access_token "$(j "$BODY" 'd["access_token"]')" alice "$CONSOLE" "$KID1" "refreshed (resource) access token"
RT3="$(j "$BODY" 'd["refresh_token"]')"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$RT2" -d "client_id=$CONSOLE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:invalid_grant" "reusing a rotated refresh token fails"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$RT3" -d "client_id=$CONSOLE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:invalid_grant" "that reuse revoked the whole grant (latest refresh token too)"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$BOB_RT" -d "client_id=$CONSOLE" --data-urlencode "resource=https://other.test/"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:invalid_target" "unknown resource is invalid_target"

section "revocation"
req POST "$REVOCATION_EP" -d "token=$BOB_RT" -d token_type_hint=refresh_token -d "client_id=$CONSOLE"
expect_eq "$STATUS" 200 "revoke bob's refresh token"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$BOB_RT" -d "client_id=$CONSOLE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:invalid_grant" "revoked refresh token no longer works"

# ---------------------------------------------------------------------------------------------
section "client credentials"
req POST "$TOKEN_EP" -u "$MACHINE:$SECRET" -d grant_type=client_credentials --data-urlencode "resource=$AUDIENCE" -d scope=api
expect_eq "$STATUS" 200 "client_secret_basic with resource and scope=api"
CC_AT="$(j "$BODY" 'd["access_token"]')"
check_access_token "$CC_AT" "$MACHINE" "$MACHINE" "$KID1" "client credentials token"
expect_eq "$(j "$(jwt "$CC_AT" payload)" 'd.get("scope")')" api "client credentials token scope is api"
expect_eq "$(verify "$CC_AT" "$TMP/jwks1.json")" valid "client credentials token verifies against the JWKS"
req POST "$TOKEN_EP" -d grant_type=client_credentials -d "client_id=$MACHINE" -d "client_secret=$SECRET" -d scope=api
expect_eq "$STATUS" 200 "client_secret_post without resource (defaultResource)"
check_access_token "$(j "$BODY" 'd["access_token"]')" "$MACHINE" "$MACHINE" "$KID1" "client credentials token (post, default resource)"
req POST "$TOKEN_EP" -u "$MACHINE:$SECRET" -d grant_type=client_credentials
expect_eq "$STATUS:$(j "$(jwt "$(j "$BODY" 'd["access_token"]')" payload)" '"scope" in d')" "200:false" "no scope requested, no scope claim"
req POST "$TOKEN_EP" -u "$MACHINE:wrong" -d grant_type=client_credentials
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "401:invalid_client" "wrong client secret is invalid_client"
req POST "$TOKEN_EP" -d grant_type=client_credentials -d "client_id=$CONSOLE"
expect_eq "$STATUS" 400 "the public console client cannot use client_credentials"

# ---------------------------------------------------------------------------------------------
section "deny"
device_start
post_json "$ISSUER/test/device/deny" '{"user_code":"ZZZZ-ZZZZ"}'
expect_eq "$STATUS" 404 "denying an unknown user code is a 404"
post_json "$ISSUER/test/device/deny" '{"user_code":"'"$USER_CODE"'"}'
expect_eq "$STATUS" 200 "deny the user code"
poll "$DEVICE_CODE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:access_denied" "poll after deny is access_denied"

# ---------------------------------------------------------------------------------------------
section "slow_down"
device_start
post_json "$ISSUER/test/device/slow-down" '{"times":2}'
expect_eq "$STATUS" 200 "arm two slow_down answers"
req POST "$TOKEN_EP" -u "$MACHINE:$SECRET" -d grant_type=client_credentials
expect_eq "$STATUS" 200 "other grants are not slowed down"
poll "$DEVICE_CODE"
expect_eq "$STATUS:$BODY" '400:{"error":"slow_down"}' "first poll: slow_down"
poll "$DEVICE_CODE"
expect_eq "$STATUS:$BODY" '400:{"error":"slow_down"}' "second poll: slow_down"
poll "$DEVICE_CODE"
expect_eq "$STATUS:$(j "$BODY" 'd["error"]')" "400:authorization_pending" "third poll reaches oidc-provider again"
post_json "$ISSUER/test/device/slow-down" '{"times":1}'
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":"carol"}'
poll "$DEVICE_CODE"
expect_eq "$STATUS:$BODY" '400:{"error":"slow_down"}' "slow_down also before an approved poll"
poll "$DEVICE_CODE"
expect_eq "$STATUS" 200 "approved poll after slow_down gives tokens"
check_access_token "$(j "$BODY" 'd["access_token"]')" carol "$CONSOLE" "$KID1" "token after slow_down"
CAROL_RT="$(j "$BODY" 'd["refresh_token"]')"

# ---------------------------------------------------------------------------------------------
section "stats"
req POST "$ISSUER/test/stats/reset"
expect_eq "$STATUS" 200 "reset stats"
req GET "$ISSUER/test/stats"
expect_eq "$BODY" '{"jwks_requests":0,"discovery_requests":0,"token_requests":0}' "stats are zero after reset"
req GET "$ISSUER/.well-known/openid-configuration"
req GET "$ISSUER/.well-known/oauth-authorization-server"
req GET "$JWKS_URI"; req GET "$JWKS_URI"
req POST "$TOKEN_EP" -u "$MACHINE:$SECRET" -d grant_type=client_credentials
req POST "$TOKEN_EP" -d grant_type=client_credentials -u "$MACHINE:wrong"
req POST "$TOKEN_EP" -d grant_type=client_credentials -u "$MACHINE:$SECRET"
req GET "$ISSUER/test/health"
req GET "$ISSUER/test/stats"
expect_eq "$BODY" '{"jwks_requests":2,"discovery_requests":2,"token_requests":3}' "stats count jwks, discovery (both well-known paths) and token requests"

# ---------------------------------------------------------------------------------------------
section "sign and public key"
req GET "$ISSUER/test/public-key.pem"
expect_eq "$STATUS" 200 "GET /test/public-key.pem"
printf '%s\n' "$BODY" >"$TMP/pem1.pem"
expect_match "$(head -n 1 "$TMP/pem1.pem")" '^-----BEGIN PUBLIC KEY-----$' "PEM is SPKI"
NOW=$(date +%s)
post_json "$ISSUER/test/sign" '{"header":{"typ":"at+jwt"},"claims":{"iss":"'"$ISSUER"'","aud":"'"$AUDIENCE"'","sub":"mallory","exp":'"$((NOW - 60))"'}}'
expect_eq "$STATUS" 200 "POST /test/sign"
SIGNED="$(j "$BODY" 'd["token"]')"
expect_eq "$(jwt "$SIGNED" header)" "{\"alg\": \"RS256\", \"kid\": \"$KID1\", \"typ\": \"at+jwt\"}" "signed header: alg, kid added, typ kept"
expect_eq "$(j "$(jwt "$SIGNED" payload)" '[d["sub"], d["exp"]]')" "[\"mallory\", $((NOW - 60))]" "signed claims as given"
expect_eq "$(verify "$SIGNED" "$TMP/pem1.pem")" valid "signed token verifies with the PEM"
expect_eq "$(verify "$SIGNED" "$TMP/jwks1.json")" valid "signed token verifies with the JWKS"
expect_eq "$(verify "$AT" "$TMP/pem1.pem")" valid "PEM is the key that signs access tokens"
post_json "$ISSUER/test/sign" '{"header":{"kid":"forged","alg":"RS256"},"claims":{}}'
expect_eq "$(j "$(jwt "$(j "$BODY" 'd["token"]')" header)" 'd["kid"]')" forged "header kid can be overridden"
post_json "$ISSUER/test/sign" '{"header":{"alg":"none"},"claims":{"sub":"x"}}'
expect_match "$(j "$BODY" 'd["token"]')" '\.$' "alg none gives an unsigned token"
post_json "$ISSUER/test/sign" 'not json'
expect_eq "$STATUS" 400 "invalid JSON body is a 400"

# ---------------------------------------------------------------------------------------------
section "key rotation (keep_old default true)"
device_start   # pending across the rotation
PENDING_DC="$DEVICE_CODE"; PENDING_UC="$USER_CODE"
post_json "$ISSUER/test/keys/rotate" '{}'
expect_eq "$STATUS" 200 "rotate"
KID2="$(j "$BODY" 'd["kid"]')"
expect_eq "$(j "$BODY" 'd["old_kid"]')" "$KID1" "old_kid is the previous key"
expect_ne "$KID2" "$KID1" "new kid differs"
save_jwks "$TMP/jwks2.json"
expect_eq "$(j "$(cat "$TMP/jwks2.json")" '[k["kid"] for k in d["keys"]]')" "[\"$KID2\", \"$KID1\"]" "JWKS has the new key first and keeps the old one"
expect_eq "$(verify "$AT" "$TMP/jwks2.json")" valid "pre-rotation token still verifies against the new JWKS"
req POST "$TOKEN_EP" -u "$MACHINE:$SECRET" -d grant_type=client_credentials -d scope=api
CC2="$(j "$BODY" 'd["access_token"]')"
check_access_token "$CC2" "$MACHINE" "$MACHINE" "$KID2" "post-rotation client credentials token"
expect_eq "$(verify "$CC2" "$TMP/jwks2.json")" valid "post-rotation token verifies against the new JWKS"
expect_eq "$(verify "$CC2" "$TMP/jwks1.json")" "no key with kid $KID2" "post-rotation token is not in the old JWKS"
req POST "$TOKEN_EP" -d grant_type=refresh_token -d "refresh_token=$CAROL_RT" -d "client_id=$CONSOLE"
expect_eq "$STATUS" 200 "refresh token from before the rotation still works"
check_access_token "$(j "$BODY" 'd["access_token"]')" carol "$CONSOLE" "$KID2" "refreshed token after rotation"
expect_eq "$(j "$(jwt "$(j "$BODY" 'd["id_token"]')" header)" 'd["kid"]')" "$KID2" "id_token after rotation uses the new key"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$PENDING_UC"'","account_id":"dave"}'
expect_eq "$STATUS" 200 "approve a device code started before the rotation"
poll "$PENDING_DC"
expect_eq "$STATUS" 200 "its poll returns tokens"
check_access_token "$(j "$BODY" 'd["access_token"]')" dave "$CONSOLE" "$KID2" "device token after rotation"
req GET "$ISSUER/test/public-key.pem"; printf '%s\n' "$BODY" >"$TMP/pem2.pem"
expect_eq "$(verify "$CC2" "$TMP/pem2.pem")" valid "PEM follows the rotation"
post_json "$ISSUER/test/sign" '{"claims":{"sub":"x"}}'
expect_eq "$(j "$(jwt "$(j "$BODY" 'd["token"]')" header)" 'd["kid"]')" "$KID2" "/test/sign uses the new key"

section "key rotation (keep_old false)"
post_json "$ISSUER/test/keys/rotate" '{"keep_old":false}'
KID3="$(j "$BODY" 'd["kid"]')"
expect_eq "$(j "$BODY" 'd["old_kid"]')" "$KID2" "old_kid is the previous key"
save_jwks "$TMP/jwks3.json"
expect_eq "$(j "$(cat "$TMP/jwks3.json")" '[k["kid"] for k in d["keys"]]')" "[\"$KID3\"]" "JWKS has only the new key"
req POST "$TOKEN_EP" -u "$MACHINE:$SECRET" -d grant_type=client_credentials
CC3="$(j "$BODY" 'd["access_token"]')"
check_access_token "$CC3" "$MACHINE" "$MACHINE" "$KID3" "token after second rotation"
expect_eq "$(verify "$CC3" "$TMP/jwks3.json")" valid "it verifies against the JWKS"
expect_eq "$(verify "$CC2" "$TMP/jwks3.json")" "no key with kid $KID2" "the dropped key is gone from the JWKS"
discover
expect_eq "$(j "$DISCO" 'd["issuer"]')" "$ISSUER" "discovery unchanged after rotation"

expect_eq "$(wc -l <"$TMP/main/stdout" | tr -d ' ')" 1 "exactly one line on stdout during the whole run"
stop_by_eof main

# ---------------------------------------------------------------------------------------------
section "options: interval, TTLs, client ids, audience"
start_provider opts --device-interval 7 --access-token-ttl 60 --refresh-token-ttl 120 \
  --console-client-id cli-x --machine-client-id ci-x --machine-client-secret s3cret \
  --audience https://api.example.test/v1
CONSOLE=cli-x; MACHINE=ci-x; SECRET=s3cret; AUDIENCE=https://api.example.test/v1
discover
device_start
expect_eq "$(j "$DEVICE_RESPONSE" 'd.get("interval")')" 7 "device authorization carries interval 7"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":"erin"}'
poll "$DEVICE_CODE"
expect_eq "$STATUS" 200 "device flow with custom client id"
AT="$(j "$BODY" 'd["access_token"]')"
KID="$(j "$(jwt "$AT" header)" 'd["kid"]')"
check_access_token "$AT" erin cli-x "$KID" "custom-option device token"
expect_eq "$(j "$(jwt "$AT" payload)" 'd["exp"] - d["iat"]')" 60 "--access-token-ttl 60"
req POST "$TOKEN_EP" -u "ci-x:s3cret" -d grant_type=client_credentials -d scope=api
check_access_token "$(j "$BODY" 'd["access_token"]')" ci-x ci-x "$KID" "custom machine client token"
req POST "$TOKEN_EP" -u "statesight-ci:statesight-ci-secret" -d grant_type=client_credentials
expect_eq "$STATUS" 401 "default machine client is not registered when overridden"

section "SIGTERM"
pid=${PIDS[opts]}
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "provider still running 5s after SIGTERM"
rc=0
wait "$pid" 2>/dev/null || rc=$?
unset "PIDS[opts]"
eval "exec ${FDS[opts]}>&-"
expect_eq "$rc" 0 "exits with status 0 on SIGTERM"
grep -q 'shutting down (SIGTERM)' "$TMP/opts/stderr" || fail "no SIGTERM shutdown logged"
CONSOLE=statesight-console; MACHINE=statesight-ci; SECRET=statesight-ci-secret; AUDIENCE=https://statesight.test/api

section "the process holding stdin is SIGKILLed"
mkfifo "$TMP/orphan.fifo"
node "$HERE/provider.mjs" <"$TMP/orphan.fifo" >"$TMP/orphan.out" 2>"$TMP/orphan.err" &
PIDS[orphan]=$!
sleep 600 >"$TMP/orphan.fifo" &   # stands in for a test process: the only writer of the FIFO
PIDS[holder]=$!
for _ in $(seq 1 150); do [[ -s "$TMP/orphan.out" ]] && break; sleep 0.1; done
[[ -s "$TMP/orphan.out" ]] || fail "orphan provider never became ready: $(cat "$TMP/orphan.err")"
kill -KILL "${PIDS[holder]}"; wait "${PIDS[holder]}" 2>/dev/null || true; unset "PIDS[holder]"
for _ in $(seq 1 50); do kill -0 "${PIDS[orphan]}" 2>/dev/null || break; sleep 0.1; done
kill -0 "${PIDS[orphan]}" 2>/dev/null && fail "provider survived the death of the process holding its stdin"
grep -q 'shutting down (stdin closed)' "$TMP/orphan.err" || fail "orphan provider did not log its stdin shutdown"
wait "${PIDS[orphan]}" 2>/dev/null || true; unset "PIDS[orphan]"
ok "provider exits when the process holding its stdin is killed"

# ---------------------------------------------------------------------------------------------
section "TLS"
mkdir -p "$TMP/tls"
if command -v openssl >/dev/null 2>&1 && [[ -z "${SMOKE_NODE_CERT:-}" ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>"$TMP/tls/openssl.log" \
    || { cat "$TMP/tls/openssl.log" >&2; fail "openssl could not make a certificate"; }
  ok "self-signed certificate made with openssl"
else
  # No openssl: build the same self-signed certificate (CN=localhost, SAN DNS:localhost and
  # IP:127.0.0.1, CA:TRUE so it can be its own trust anchor) with node:crypto and a tiny DER
  # encoder.
  node - "$TMP/tls" <<'JS'
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
const dir = process.argv[2];
const len = (n) => (n < 0x80 ? Buffer.from([n])
  : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]));
const tlv = (tag, ...parts) => { const body = Buffer.concat(parts); return Buffer.concat([Buffer.from([tag]), len(body.length), body]); };
const seq = (...p) => tlv(0x30, ...p);
const oid = (dotted) => {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
};
const utcTime = (d) => tlv(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`));
const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('localhost')))));
const sha256WithRSA = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const serial = crypto.randomBytes(16); serial[0] &= 0x7f;
const now = Date.now();
const san = seq(tlv(0x82, Buffer.from('localhost')), tlv(0x87, Buffer.from([127, 0, 0, 1])));
const basicConstraints = seq(tlv(0x01, Buffer.from([0xff])));
const extensions = tlv(0xa3, seq(
  seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, basicConstraints)),
  seq(oid('2.5.29.17'), tlv(0x04, san)),
));
const tbs = seq(
  tlv(0xa0, tlv(0x02, Buffer.from([2]))),
  tlv(0x02, serial),
  sha256WithRSA,
  name,
  seq(utcTime(new Date(now - 3600e3)), utcTime(new Date(now + 2 * 86400e3))),
  name,
  publicKey.export({ type: 'spki', format: 'der' }),
  extensions,
);
const signature = crypto.sign('sha256', tbs, privateKey);
const der = seq(tbs, sha256WithRSA, tlv(0x03, Buffer.from([0]), signature));
const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
fs.writeFileSync(`${dir}/cert.pem`, pem);
fs.writeFileSync(`${dir}/key.pem`, privateKey.export({ type: 'pkcs8', format: 'pem' }));
new crypto.X509Certificate(pem); // throws if the DER is malformed
JS
  ok "self-signed certificate made with node"
fi

start_provider tls --tls-cert "$TMP/tls/cert.pem" --tls-key "$TMP/tls/key.pem" --issuer-host localhost
expect_eq "$ISSUER" "https://localhost:$PORT" "TLS issuer is https://localhost:PORT"
CA=(--cacert "$TMP/tls/cert.pem")
set +e
curl -sS -o /dev/null "$ISSUER/test/health" 2>/dev/null
rc=$?
set -e
expect_ne "$rc" 0 "without --cacert the certificate is not trusted"
req GET "$ISSUER/test/health" "${CA[@]}"
expect_eq "$STATUS:$BODY" '200:{"ok":true}' "health over TLS with --cacert"
req GET "https://127.0.0.1:$PORT/test/health" "${CA[@]}"
expect_eq "$STATUS" 200 "certificate also valid for 127.0.0.1"
discover "${CA[@]}"
expect_eq "$(j "$DISCO" 'd["issuer"]')" "$ISSUER" "TLS discovery issuer"
expect_eq "$TOKEN_EP" "$ISSUER/token" "TLS token endpoint"
req POST "$TOKEN_EP" "${CA[@]}" -u "$MACHINE:$SECRET" -d grant_type=client_credentials -d scope=api
expect_eq "$STATUS" 200 "client credentials over TLS"
TLS_AT="$(j "$BODY" 'd["access_token"]')"
save_jwks "$TMP/jwks-tls.json" "${CA[@]}"
check_access_token "$TLS_AT" "$MACHINE" "$MACHINE" "$(j "$(cat "$TMP/jwks-tls.json")" 'd["keys"][0]["kid"]')" "TLS token"
expect_eq "$(verify "$TLS_AT" "$TMP/jwks-tls.json")" valid "TLS token verifies against the TLS JWKS"
device_start "${CA[@]}"
post_json "$ISSUER/test/device/approve" '{"user_code":"'"$USER_CODE"'","account_id":"frank"}' "${CA[@]}"
poll "$DEVICE_CODE" "${CA[@]}"
expect_eq "$STATUS" 200 "device flow over TLS"
check_access_token "$(j "$BODY" 'd["access_token"]')" frank "$CONSOLE" "$(j "$(cat "$TMP/jwks-tls.json")" 'd["keys"][0]["kid"]')" "TLS device token"
stop_by_eof tls

printf '\nsmoke: all %d checks passed\n' "$PASSED"
