#!/usr/bin/env bash
# Type-checks the Rust side of the phone builds (docs/mobile.md): clippy with warnings as errors
# for Android (aarch64-linux-android: lineup-protocol, lineup-core, lineup-app) and a check of
# lineup-protocol for iOS (the other crates need Xcode's `xcrun`). Nothing is linked and nothing
# runs: there is no NDK, SDK or Xcode here. The only C in the Android tree (aws-lc-sys, through
# rustls) is compiled with Debian's clang against glibc headers, which proves nothing about it on
# a phone. Uses its own target directory (LINEUP_MOBILE_TARGET_DIR, default target-android/) so
# it never waits on, or is waited on by, the host build's lock.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_rust
ensure_apt "${MOBILE_CHECK_PACKAGES[@]}"
ensure_rust_target aarch64-linux-android aarch64-apple-ios

target_dir="${LINEUP_MOBILE_TARGET_DIR:-$PWD/target-android}"
# Bionic's sys/system_properties.h is the one header aws-lc-sys wants that glibc lacks; an empty
# stand-in is enough to compile (not to run) it.
stub="$target_dir/stub-include"
mkdir -p "$stub/sys"
: > "$stub/sys/system_properties.h"

start=$(date +%s)
say "Android: cargo clippy (aarch64-linux-android, warnings are errors) in $target_dir"
# `cargo clippy` sets its own compiler wrapper; the host build's one must not leak in.
without_clippy env CARGO_TARGET_DIR="$target_dir" \
    CC_aarch64_linux_android=clang AR_aarch64_linux_android=llvm-ar \
    CFLAGS_aarch64_linux_android="--target=aarch64-linux-android24 -D_GNU_SOURCE -isystem $stub -isystem /usr/aarch64-linux-gnu/include" \
    cargo clippy --locked --target aarch64-linux-android -p lineup-protocol -p lineup-core -p lineup-app -- -D warnings
say "iOS: cargo check of lineup-protocol (aarch64-apple-ios)"
without_clippy env CARGO_TARGET_DIR="$target_dir" \
    cargo check --locked --target aarch64-apple-ios -p lineup-protocol
say "mobile type-checks passed in $(( $(date +%s) - start )) s"
