#!/usr/bin/env bash
# Installs the guest toolchains the examples and SDK tests need, only what
# is missing (why these packages: RATIONALE.md, "Guest toolchains"):
#   C:              clang-16, lld-16, wasi-libc, libclang-rt-16-dev-wasm32
#   Rust:           Debian's rustc/cargo (1.63) with libstd-rust-dev-wasm32
#                   (rustup's toolchain has no wasm32 target offline)
#   WAT:            wabt (wat2wasm)
#   AssemblyScript: npm install in sdk/assemblyscript
#   Tests:          zstd and bzip2 (compressed input), chromium (the
#                   dashboard tests drive it headless with chromedp), tmux
#                   (the progress line in an 80-column terminal)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v clang-16 >/dev/null || missing+=(clang-16)
command -v wasm-ld-16 >/dev/null || missing+=(lld-16)
[ -f /usr/include/wasm32-wasi/stdio.h ] || missing+=(wasi-libc)
[ -n "$(ls /usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a 2>/dev/null)" ] || missing+=(libclang-rt-16-dev-wasm32)
[ -x /usr/bin/rustc ] || missing+=(rustc)
[ -x /usr/bin/cargo ] || missing+=(cargo)
[ -d /usr/lib/rustlib/wasm32-unknown-unknown ] || missing+=(libstd-rust-dev-wasm32)
command -v wat2wasm >/dev/null || missing+=(wabt)
command -v npm >/dev/null || missing+=(npm)
command -v zstd >/dev/null || missing+=(zstd)   # the compressed-input tests make .zst and .bz2 files
command -v bzip2 >/dev/null || missing+=(bzip2)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tmux >/dev/null || missing+=(tmux)

if [ ${#missing[@]} -gt 0 ]; then
	echo "toolchains: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x sdk/assemblyscript/node_modules/.bin/asc ]; then
	echo "toolchains: npm install (AssemblyScript) in sdk/assemblyscript"
	(cd sdk/assemblyscript && npm install --no-audit --no-fund --loglevel=error)
fi
