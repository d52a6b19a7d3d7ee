#!/usr/bin/env bash
# Regenerates the certificates of the fixture store the way docker-machine
# makes them (RSA 2048, PKCS#1 keys, org "alice", server SANs = the machine's
# IP and localhost), valid for 100 years so the tests do not rot.
# The config.json files are hand-written copies of a real VirtualBox
# machine's (`docker-machine inspect`), paths under /Users/alice.
set -euo pipefail
cd "$(dirname "$0")/store"
days=36500
certs=certs
mkdir -p "$certs"
openssl genrsa -traditional -out "$certs/ca-key.pem" 2048 2>/dev/null
openssl req -x509 -new -key "$certs/ca-key.pem" -subj "/O=alice" -days $days \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,digitalSignature,keyEncipherment,keyAgreement" \
  -out "$certs/ca.pem"
openssl genrsa -traditional -out "$certs/key.pem" 2048 2>/dev/null
openssl req -new -key "$certs/key.pem" -subj "/O=alice.<bootstrap>" |
  openssl x509 -req -CA "$certs/ca.pem" -CAkey "$certs/ca-key.pem" -CAcreateserial -days $days \
    -extfile <(printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n') -out "$certs/cert.pem" 2>/dev/null
for m in infra:192.168.99.100 swarm-0:192.168.99.101; do
  name=${m%%:*} ip=${m#*:} dir=machines/$name
  mkdir -p "$dir"
  cp "$certs/ca.pem" "$certs/cert.pem" "$certs/key.pem" "$dir/"
  openssl genrsa -traditional -out "$dir/server-key.pem" 2048 2>/dev/null
  openssl req -new -key "$dir/server-key.pem" -subj "/O=alice.$name" |
    openssl x509 -req -CA "$certs/ca.pem" -CAkey "$certs/ca-key.pem" -CAcreateserial -days $days \
      -extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,DNS:localhost\n' "$ip") \
      -out "$dir/server.pem" 2>/dev/null
done
rm -f "$certs/ca.srl"
