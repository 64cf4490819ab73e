#!/bin/sh
# Development certificates for icalgate: a local CA (made once, then reused) and a server
# certificate signed by it. Never use these in production; see certs/README.md.
#
# usage: certs/dev-ca.sh [--rsa] DIR [HOSTNAME...]
#
# Writes into DIR:
#   ca.pem          the development CA certificate (import this into the mail client)
#   ca-key.pem      its private key (0600); kept so that later runs reuse the same CA
#   cert.pem        the server certificate alone
#   fullchain.pem   the server certificate followed by the CA certificate ([tls] cert)
#   privkey.pem     the server's private key (0600)                        ([tls] key)
# HOSTNAMEs become subjectAltNames: IPv4 and IPv6 literals as IP entries, anything else as
# DNS entries. Default: localhost, 127.0.0.1 and ::1.
set -eu
set -f # host names such as *.example.test must not glob

ca_days=3650   # ten years: a development CA should outlive the checkouts that trust it
leaf_days=825  # the longest validity that every current TLS client still accepts

usage() {
  echo "usage: $0 [--rsa] DIR [HOSTNAME...]" >&2
  echo "  creates (or reuses) a development CA in DIR and issues a server certificate" >&2
  echo "  for HOSTNAMEs (default: localhost 127.0.0.1 ::1); --rsa: RSA 3072 server key" >&2
  exit 2
}

die() {
  echo "dev-ca.sh: $*" >&2
  exit 1
}

rsa=0
dir=""
names=""
for arg in "$@"; do
  case "$arg" in
  --rsa) rsa=1 ;;
  -h | --help) usage ;;
  -*) echo "dev-ca.sh: unknown option $arg" >&2; usage ;;
  *)
    if [ -z "$dir" ]; then
      dir=$arg
    else
      names="$names $arg"
    fi
    ;;
  esac
done
[ -n "$dir" ] || usage
[ -n "$names" ] || names="localhost 127.0.0.1 ::1"

command -v openssl >/dev/null 2>&1 || die "openssl is not installed"

# Builds the subjectAltName list. The names end up in an openssl config file, so only
# characters that can appear in host names and IP literals are let through.
san=""
first=""
for name in $names; do
  case "$name" in
  *[!0-9A-Fa-f:.]*) is_ip=0 ;;
  *:*) is_ip=1 ;;
  *[!0-9.]*) is_ip=0 ;;
  *) is_ip=1 ;;
  esac
  case "$name" in
  "" | *[!A-Za-z0-9.:_*-]* | .* | -*) die "not a host name or IP address: '$name'" ;;
  esac
  if [ "$is_ip" = 1 ]; then
    entry="IP:$name"
  else
    entry="DNS:$name"
  fi
  san="${san:+$san,}$entry"
  [ -n "$first" ] || first=$name
done

mkdir -p "$dir"
umask 077
work=$(mktemp -d "$dir/.dev-ca.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# --- the CA: reused when present, so that a client that trusts it keeps trusting the gateway
if [ -f "$dir/ca.pem" ] || [ -f "$dir/ca-key.pem" ]; then
  if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca-key.pem" ]; then
    die "$dir has only one of ca.pem and ca-key.pem; remove it to make a new CA"
  fi
  openssl x509 -in "$dir/ca.pem" -noout -pubkey >"$work/ca-pub-cert.pem" 2>/dev/null ||
    die "$dir/ca.pem is not a certificate"
  openssl pkey -in "$dir/ca-key.pem" -pubout >"$work/ca-pub-key.pem" 2>/dev/null ||
    die "$dir/ca-key.pem is not a private key"
  cmp -s "$work/ca-pub-cert.pem" "$work/ca-pub-key.pem" ||
    die "$dir/ca-key.pem does not belong to $dir/ca.pem"
  openssl x509 -in "$dir/ca.pem" -noout -checkend $((leaf_days * 86400)) >/dev/null ||
    die "$dir/ca.pem expires within $leaf_days days; remove ca.pem and ca-key.pem to make a new CA"
  echo "reusing the development CA in $dir/ca.pem"
else
  cat >"$work/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
O = icalgate development
CN = icalgate development CA $(date -u +%Y-%m-%dT%H:%M:%SZ)
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca-key.pem" 2>/dev/null
  openssl req -new -x509 -config "$work/ca.cnf" -key "$work/ca-key.pem" -sha256 \
    -days "$ca_days" -set_serial "0x$(openssl rand -hex 16)" -out "$work/ca.pem"
  chmod 600 "$work/ca-key.pem"
  chmod 644 "$work/ca.pem"
  mv "$work/ca-key.pem" "$dir/ca-key.pem"
  mv "$work/ca.pem" "$dir/ca.pem"
  echo "created a development CA in $dir/ca.pem"
fi

# --- the server certificate, issued anew on every run (names may have changed)
if [ "$rsa" = 1 ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$work/privkey.pem" 2>/dev/null
  key_usage="critical, digitalSignature, keyEncipherment"
else
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/privkey.pem" 2>/dev/null
  key_usage="critical, digitalSignature"
fi
cat >"$work/leaf.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
O = icalgate development
CN = $first
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = $key_usage
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
openssl req -new -config "$work/leaf.cnf" -key "$work/privkey.pem" -out "$work/leaf.csr"
openssl x509 -req -in "$work/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -sha256 \
  -days "$leaf_days" -set_serial "0x$(openssl rand -hex 16)" \
  -extfile "$work/leaf.cnf" -extensions leaf_ext -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$dir/ca.pem" >"$work/fullchain.pem"
chmod 600 "$work/privkey.pem"
chmod 644 "$work/cert.pem" "$work/fullchain.pem"
# The key goes last-but-one and the chain last, so that a gateway watching fullchain.pem
# reloads a matching pair.
mv "$work/cert.pem" "$dir/cert.pem"
mv "$work/privkey.pem" "$dir/privkey.pem"
mv "$work/fullchain.pem" "$dir/fullchain.pem"

echo "issued a server certificate for: $(echo "$san" | sed 's/,/, /g')"
echo "  certificate chain: $dir/fullchain.pem"
echo "  private key:       $dir/privkey.pem"
echo "  CA to trust:       $dir/ca.pem"
echo "  CA fingerprint:    $(openssl x509 -in "$dir/ca.pem" -noout -fingerprint -sha256 | sed 's/^[^=]*=//')"
