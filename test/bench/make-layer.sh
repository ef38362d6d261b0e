#!/usr/bin/env bash
# Makes one big JWE-encrypted OCI layer for the benchmark with a real
# encryptor (skopeo / containers/image / ocicrypt), and caches it:
#
#   bash test/bench/make-layer.sh NAME MIB BENCH_DIR
#
# writes BENCH_DIR/NAME/{blob.enc,descriptor.json} (skipped if both exist).
# The layer holds one file of MIB MiB of pseudo-random bytes (AES-CTR of
# zeros: incompressible, so the tar+gzip blob is about MIB MiB); umoci builds
# the image, skopeo encrypts it for BENCH_DIR/keys/bench.pub.pem (made once).
set -euo pipefail
name=$1 mib=$2 bench=$3
out=$bench/$name
[ -s "$out/blob.enc" ] && [ -s "$out/descriptor.json" ] && exit 0

keys=$bench/keys
if [ ! -s "$keys/bench.pkcs8.pem" ]; then
  mkdir -p "$keys"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/bench.pkcs8.pem" 2>/dev/null
  openssl pkey -in "$keys/bench.pkcs8.pem" -pubout -out "$bench/bench.pub.pem"
  chmod 600 "$keys/bench.pkcs8.pem"
fi

need_kib=$((mib * 1024 * 4))  # the random file, the plain image, the encrypted image, the kept blob
free_kib=$(df -Pk "$bench" | awk 'NR == 2 { print $4 }')
if [ "$free_kib" -lt "$need_kib" ]; then
  echo "make-layer.sh: $name needs $((need_kib / 1024 / 1024)) GiB free under $bench, only $((free_kib / 1024 / 1024)) GiB" >&2
  exit 1
fi

work=$bench/tmp-$name
rm -rf "$work" "$out"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs" "$work/tmp" "$out"
export TMPDIR=$work/tmp  # skopeo stages big blobs here, not in /var/tmp
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$work/policy.json"

echo "make-layer.sh: $name: $mib MiB of random bytes -> umoci image -> skopeo jwe encryption" >&2
head -c "$((mib * 1024 * 1024))" /dev/zero |
  openssl enc -aes-256-ctr -K "$(printf '%s' "$name" | sha256sum | cut -c1-64)" -iv 00000000000000000000000000000000 \
    >"$work/rootfs/random.bin"
touch -d '2020-01-01T00:00:00Z' "$work/rootfs/random.bin" "$work/rootfs"
umoci init --layout "$work/plain" >/dev/null
umoci new --image "$work/plain:bench" >/dev/null
umoci insert --image "$work/plain:bench" "$work/rootfs/random.bin" /random.bin >/dev/null
rm -f "$work/rootfs/random.bin"
skopeo --policy "$work/policy.json" copy -q --encryption-key "jwe:$bench/bench.pub.pem" --encrypt-layer -1 \
  "oci:$work/plain:bench" "oci:$work/enc:bench"
rm -rf "$work/plain"

manifest=$work/enc/blobs/sha256/$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$work/enc/index.json")
jq '.layers[-1]' "$manifest" >"$out/descriptor.json.tmp"
jq -e '.annotations["org.opencontainers.image.enc.keys.jwe"] and .annotations["org.opencontainers.image.enc.pubopts"]' \
  "$out/descriptor.json.tmp" >/dev/null || { echo "make-layer.sh: $name: skopeo wrote no JWE annotations" >&2; exit 1; }
mv "$work/enc/blobs/sha256/$(jq -r '.digest | sub("sha256:"; "")' "$out/descriptor.json.tmp")" "$out/blob.enc"
mv "$out/descriptor.json.tmp" "$out/descriptor.json"
echo "make-layer.sh: $name: $(stat -c %s "$out/blob.enc") bytes, $(jq -r .mediaType "$out/descriptor.json")" >&2
