#!/bin/sh
# Tests certs/dev-ca.sh with the openssl CLI: the chain verifies, the names are right, keys are
# private, and a second run keeps the CA.
#
# usage: tests/certs/test_dev_ca.sh [PATH/TO/dev-ca.sh]
set -u

script=${1:-$(dirname "$0")/../../certs/dev-ca.sh}
[ -f "$script" ] || { echo "test_dev_ca: no script at $script" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/icalgate-dev-ca-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0
check() {
  # check DESCRIPTION COMMAND...: runs COMMAND, counts and reports the outcome.
  what=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   - $what"
  else
    failed=$((failed + 1))
    echo "FAIL - $what"
    sed 's/^/       /' "$tmp/out"
  fi
}

run_script() {
  sh "$script" "$@" >"$tmp/script.log" 2>&1 || { cat "$tmp/script.log"; return 1; }
}

san_of() {
  openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' '
}

mode_of() {
  stat -c %a "$1"
}

count_certs() {
  grep -c -- '-----BEGIN CERTIFICATE-----' "$1"
}

expect_eq() {
  # expect_eq ACTUAL EXPECTED
  [ "$1" = "$2" ] || { echo "expected '$2', got '$1'"; return 1; }
}

second_cert_is_ca() {
  # The certificate after the leaf in fullchain.pem is ca.pem, byte for byte.
  awk '/-----BEGIN CERTIFICATE-----/ { n++ } n == 2' "$1/fullchain.pem" >"$tmp/second.pem"
  cmp "$tmp/second.pem" "$1/ca.pem"
}

key_matches_cert() {
  openssl x509 -in "$1/fullchain.pem" -noout -pubkey >"$tmp/pub-cert.pem" &&
    openssl pkey -in "$1/privkey.pem" -pubout >"$tmp/pub-key.pem" &&
    cmp "$tmp/pub-cert.pem" "$tmp/pub-key.pem"
}

key_text() {
  openssl pkey -in "$1" -noout -text
}

is_p256() {
  key_text "$1" | grep -q 'prime256v1'
}

is_rsa3072() {
  key_text "$1" | grep -q 'Private-Key: (3072 bit'
}

validity_days() {
  # Days between notBefore and notAfter of certificate $1.
  start=$(date -u -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
  end=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
  echo $(((end - start) / 86400))
}

verify_name() {
  # verify_name DIR -verify_hostname NAME | -verify_ip IP
  openssl verify -CAfile "$1/ca.pem" -purpose sslserver "$2" "$3" "$1/fullchain.pem"
}

# --- default names, ECDSA
d=$tmp/default
check "first run succeeds" run_script "$d"
check "the chain verifies against ca.pem" openssl verify -CAfile "$d/ca.pem" "$d/fullchain.pem"
check "valid for TLS servers" openssl verify -CAfile "$d/ca.pem" -purpose sslserver "$d/fullchain.pem"
check "localhost verifies" verify_name "$d" -verify_hostname localhost
check "127.0.0.1 verifies" verify_name "$d" -verify_ip 127.0.0.1
check "::1 verifies" verify_name "$d" -verify_ip ::1
check "other names do not verify" sh -c "! openssl verify -CAfile '$d/ca.pem' -verify_hostname example.com '$d/fullchain.pem'"
check "default SANs" expect_eq "$(san_of "$d/fullchain.pem")" "DNS:localhost,IPAddress:127.0.0.1,IPAddress:0:0:0:0:0:0:0:1"
check "fullchain holds leaf and CA" expect_eq "$(count_certs "$d/fullchain.pem")" 2
check "the chain's second certificate is ca.pem" second_cert_is_ca "$d"
check "privkey.pem is the leaf's key" key_matches_cert "$d"
check "privkey.pem is 0600" expect_eq "$(mode_of "$d/privkey.pem")" 600
check "ca-key.pem is 0600" expect_eq "$(mode_of "$d/ca-key.pem")" 600
check "ca.pem is readable" expect_eq "$(mode_of "$d/ca.pem")" 644
check "leaf key is ECDSA P-256" is_p256 "$d/privkey.pem"
check "CA key is ECDSA P-256" is_p256 "$d/ca-key.pem"
check "CA is valid for ten years" expect_eq "$(validity_days "$d/ca.pem")" 3650
check "the CA is a CA" sh -c "openssl x509 -in '$d/ca.pem' -noout -ext basicConstraints | grep -q 'CA:TRUE'"
check "the leaf is not a CA" sh -c "openssl x509 -in '$d/fullchain.pem' -noout -ext basicConstraints | grep -q 'CA:FALSE'"
check "no stray files" expect_eq "$(cd "$d" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" "./ca-key.pem ./ca.pem ./cert.pem ./fullchain.pem ./privkey.pem "

# --- second run into the same directory: same CA, new leaf for new names
cp "$d/ca.pem" "$tmp/ca-before.pem"
cp "$d/ca-key.pem" "$tmp/ca-key-before.pem"
cp "$d/fullchain.pem" "$tmp/fullchain-before.pem"
check "second run succeeds" run_script "$d" imap.example.test 192.0.2.7 2001:db8::1
check "second run says it reuses the CA" grep -q "reusing" "$tmp/script.log"
check "ca.pem unchanged" cmp "$tmp/ca-before.pem" "$d/ca.pem"
check "ca-key.pem unchanged" cmp "$tmp/ca-key-before.pem" "$d/ca-key.pem"
check "a new leaf was issued" sh -c "! cmp -s '$tmp/fullchain-before.pem' '$d/fullchain.pem'"
check "new chain verifies" openssl verify -CAfile "$d/ca.pem" "$d/fullchain.pem"
check "given SANs" expect_eq "$(san_of "$d/fullchain.pem")" "DNS:imap.example.test,IPAddress:192.0.2.7,IPAddress:2001:DB8:0:0:0:0:0:1"
check "given host name verifies" verify_name "$d" -verify_hostname imap.example.test
check "localhost no longer verifies" sh -c "! openssl verify -CAfile '$d/ca.pem' -verify_hostname localhost '$d/fullchain.pem'"
check "new key matches" key_matches_cert "$d"
check "new key is 0600" expect_eq "$(mode_of "$d/privkey.pem")" 600

# --- RSA leaf
r=$tmp/rsa
check "--rsa run succeeds" run_script --rsa "$r" localhost
check "RSA chain verifies" verify_name "$r" -verify_hostname localhost
check "leaf key is RSA 3072" is_rsa3072 "$r/privkey.pem"
check "RSA key matches" key_matches_cert "$r"
check "the CA stays ECDSA" is_p256 "$r/ca-key.pem"

# --- refusals
check "no DIR is a usage error" sh -c "sh '$script' >/dev/null 2>&1; [ \$? -eq 2 ]"
check "unknown option is a usage error" sh -c "sh '$script' --bogus '$tmp/x' >/dev/null 2>&1; [ \$? -eq 2 ]"
check "a name with shell or config syntax is refused" sh -c "! sh '$script' '$tmp/bad' 'a;b' >/dev/null 2>&1"
check "a name with a newline is refused" sh -c "! sh '$script' '$tmp/bad' 'a
DNS.2=evil' >/dev/null 2>&1"
h=$tmp/half
mkdir -p "$h"
cp "$d/ca.pem" "$h/ca.pem"
check "half a CA is refused, not overwritten" sh -c "! sh '$script' '$h' >/dev/null 2>&1 && cmp -s '$d/ca.pem' '$h/ca.pem' && [ ! -e '$h/privkey.pem' ]"
cp "$r/ca-key.pem" "$h/ca-key.pem"
check "a CA key of another CA is refused" sh -c "! sh '$script' '$h' >/dev/null 2>&1"

echo "dev_ca: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
