#!/usr/bin/env bash
# Makes what test/binary/pkcs11.test.ts decrypts, in OUT (created; the tests
# use a fresh temporary directory): a SoftHSM2 token holding an RSA key, and
# PKCS#11-encrypted layers for it. The token exists only at test time, so
# these fixtures cannot be committed.
#
#   bash test/pkcs11/make-fixtures.sh OUT
#
# Needs softhsm2 (softhsm2-util, /usr/lib/softhsm/libsofthsm2.so), opensc
# (pkcs11-tool), openssl, umoci, jq, and skopeo 1.18 with PKCS#11 support,
# which test/tools/debian-tree.sh provides. Takes a few seconds.
#
# OUT/
#   softhsm2.conf, tokens/   the token "ctd-test" (user PIN below; test/pkcs11/fixtures.ts knows it)
#   keys/hsm.yaml            key file for its key "ctd-key" (id 01), by module-name
#   keys/soft.pem            a software RSA-3072 key (PKCS#8); soft.pub.pem its public key
#   ocicrypt.conf            allows /usr/lib/softhsm/
#   layers/<case>/           blob.enc, blob.plain (the expected output), descriptor.json
#     hsm-sha1               skopeo, recipient the token key, OCICRYPT_OAEP_HASHALG=sha1
#                            (SoftHSM2 does RSA-OAEP with SHA-1 only)
#     soft-sha256            skopeo, recipient soft.pub.pem, OAEP SHA-256 (ocicrypt's default)
#     mixed-hsm-first,       hand-made, not by an encryptor: hsm-sha1's layer with a blob
#     mixed-soft-first       of two recipients, its token recipient and a second one for
#                            soft.pem made with openssl pkeyutl (RSA-OAEP SHA-256, MGF1
#                            SHA-256) from the private options that pkcs11-tool recovers
#                            on the token; the two differ in recipient order.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(realpath "$1")
module=/usr/lib/softhsm/libsofthsm2.so
token=ctd-test
object=ctd-key
pin=hsm-pin-7391
so_pin=hsm-so-pin-5170

die() { echo "make-fixtures.sh: $*" >&2; exit 1; }
for tool in softhsm2-util pkcs11-tool openssl umoci jq; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[ -e "$module" ] || die "missing $module (Debian package softhsm2)"
skopeo="$(bash "$here/../tools/debian-tree.sh" skopeo-1.18 trixie skopeo)/skopeo"

mkdir -p "$out/tokens" "$out/keys" "$out/layers" "$out/work/tmp"
work=$out/work
export TMPDIR=$work/tmp

# ------------------------------------------------------------ token and keys
cat >"$out/softhsm2.conf" <<EOF
directories.tokendir = $out/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$out/softhsm2.conf
softhsm2-util --init-token --free --label "$token" --pin "$pin" --so-pin "$so_pin" >/dev/null
p11() { pkcs11-tool --module "$module" --token-label "$token" --login --pin "$pin" "$@"; }
p11 --keypairgen --key-type rsa:2048 --label "$object" --id 01 >/dev/null 2>&1

cat >"$out/keys/hsm.yaml" <<EOF
pkcs11:
  uri: pkcs11:token=$token;object=$object?module-name=softhsm2&pin-value=$pin
module:
  env:
    SOFTHSM2_CONF: $out/softhsm2.conf
EOF
cat >"$out/ocicrypt.conf" <<EOF
pkcs11:
  module-directories:
    - /usr/lib/softhsm/
  allowed-module-paths:
    - /usr/lib/softhsm/
EOF
# 3072 bits: RSA-OAEP SHA-256 carries at most 190 bytes in a 2048-bit key, and
# ocicrypt's private options are about 193 (SHA-1 allows 214, so the token key is 2048).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$out/keys/soft.pem" 2>/dev/null
openssl pkey -in "$out/keys/soft.pem" -pubout -out "$out/soft.pub.pem"

# ------------------------------------------------------------ layers
mkdir -p "$work/rootfs/etc"
printf 'ctd-decoder pkcs11 fixture\n' >"$work/rootfs/marker.txt"
for i in $(seq 1 200); do printf 'line %03d of the pkcs11 fixture layer\n' "$i"; done >"$work/rootfs/etc/lines.txt"
find "$work/rootfs" -exec touch -h -d '2020-01-01T00:00:00Z' {} +
umoci init --layout "$work/plain" >/dev/null
umoci new --image "$work/plain:fixture" >/dev/null
umoci insert --image "$work/plain:fixture" "$work/rootfs" / >/dev/null

printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$work/policy.json"
sk() { # skopeo, quiet but for errors (it notes on stdout that pkcs11 support is experimental)
  OCICRYPT_CONFIG=$out/ocicrypt.conf "$skopeo" --policy "$work/policy.json" "$@" | { grep -v 'pkcs11 support is currently experimental' || true; }
}
last_layer() { jq '.layers[-1]' "$1/blobs/sha256/$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)"; }
blob_of() { echo "$1/blobs/sha256/$(jq -r .digest <<<"$2" | cut -d: -f2)"; }
plain_blob=$(blob_of "$work/plain" "$(last_layer "$work/plain")")
pkcs11_annotation=org.opencontainers.image.enc.keys.pkcs11

# save_case NAME LAYOUT: the encrypted layer of LAYOUT as layers/NAME
save_case() {
  local descriptor
  descriptor=$(last_layer "$2")
  mkdir -p "$out/layers/$1"
  cp "$(blob_of "$2" "$descriptor")" "$out/layers/$1/blob.enc"
  cp "$plain_blob" "$out/layers/$1/blob.plain"
  printf '%s\n' "$descriptor" >"$out/layers/$1/descriptor.json"
}
blob_json() { jq -r --arg a "$pkcs11_annotation" '.annotations[$a]' "$out/layers/$1/descriptor.json" | base64 -d; }

OCICRYPT_OAEP_HASHALG=sha1 sk copy -q --encryption-key "pkcs11:$out/keys/hsm.yaml" "oci:$work/plain:fixture" "oci:$work/hsm:fixture"
save_case hsm-sha1 "$work/hsm"
sk copy -q --encryption-key "pkcs11:$out/soft.pub.pem" "oci:$work/plain:fixture" "oci:$work/soft:fixture"
save_case soft-sha256 "$work/soft"
[ "$(blob_json hsm-sha1 | jq -r '.recipients[0].hash')" = sha1 ] || die "hsm-sha1 is not wrapped with SHA-1"
[ "$(blob_json soft-sha256 | jq -r '.recipients[0].hash')" = sha256 ] || die "soft-sha256 is not wrapped with SHA-256"

# The reference decrypts the token case with the key file (checks token, key file and config).
sk copy -q --decryption-key "$out/keys/hsm.yaml" "oci:$work/hsm:fixture" "oci:$work/decrypted:fixture"
cmp -s "$(blob_of "$work/decrypted" "$(last_layer "$work/decrypted")")" "$plain_blob" || die "skopeo did not decrypt hsm-sha1 to the plain layer"

# Mixed recipients (hand-made, see the header).
blob_json hsm-sha1 | jq -r '.recipients[0].blob' | base64 -d >"$work/hsm-recipient.bin"
p11 --decrypt --id 01 --mechanism RSA-PKCS-OAEP --hash-algorithm SHA-1 --mgf MGF1-SHA1 \
  --input-file "$work/hsm-recipient.bin" --output-file "$work/private-options.json" >/dev/null 2>&1
jq -e '.symkey and .cipheroptions.nonce' "$work/private-options.json" >/dev/null || die "pkcs11-tool did not recover the private options"
openssl pkeyutl -encrypt -pubin -inkey "$out/soft.pub.pem" -pkeyopt rsa_padding_mode:oaep \
  -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$work/private-options.json" -out "$work/soft-recipient.bin"
hsm_recipient=$(blob_json hsm-sha1 | jq -c '.recipients[0]')
soft_recipient=$(jq -nc --arg blob "$(base64 -w0 "$work/soft-recipient.bin")" '{version: 0, blob: $blob, hash: "sha256"}')
mixed_case() { # NAME RECIPIENT RECIPIENT
  local blob
  blob=$(jq -nc --argjson a "$2" --argjson b "$3" '{version: 0, recipients: [$a, $b]}' | base64 -w0)
  mkdir -p "$out/layers/$1"
  cp "$out/layers/hsm-sha1/blob.enc" "$out/layers/hsm-sha1/blob.plain" "$out/layers/$1/"
  jq --arg a "$pkcs11_annotation" --arg blob "$blob" '.annotations[$a] = $blob' "$out/layers/hsm-sha1/descriptor.json" >"$out/layers/$1/descriptor.json"
}
mixed_case mixed-hsm-first "$hsm_recipient" "$soft_recipient"
mixed_case mixed-soft-first "$soft_recipient" "$hsm_recipient"

rm -rf "$work"
