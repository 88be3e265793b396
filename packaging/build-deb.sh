#!/usr/bin/env bash
# Builds the hookflow Debian package with cargo-deb (crates/hookflow/Cargo.toml,
# [package.metadata.deb]): generates the shell completions and man pages from the built binary's
# clap definitions, then packages. Prints the .deb's path on its last line.
#   packaging/build-deb.sh              release build (what you install)
#   packaging/build-deb.sh --dev        packages the debug binary as it is, no build (CI: the
#                                       test run built it; see packaging/check-deb.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
case "${1:-}" in
    --dev) profile=dev ;;
    "") ;;
    *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

# Any installed cargo-deb will do; a missing one is installed at the version this was written
# against (once per machine: about 2-5 minutes of compiling).
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "cargo-deb is missing: installing it (cargo install cargo-deb --locked --version 3.8.0)" >&2
    cargo install cargo-deb --locked --version 3.8.0 >&2
fi

target_dir="$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[ -n "$target_dir" ] || { echo "cannot find cargo's target directory" >&2; exit 1; }
deb_args=(-p hookflow --locked --no-build --output "$target_dir/debian/")
if [ "$profile" = release ]; then
    cargo build --release --locked -p hookflow
    out="$target_dir/release"
    bin="$out/hookflow"
else
    # cargo-deb packages "target/release/" (its profile support is for release builds), so the
    # debug binary, stripped, and its assets go to a target directory of their own.
    debug_bin="$target_dir/debug/hookflow"
    [ -x "$debug_bin" ] || { echo "$debug_bin is missing: build it first (cargo build -p hookflow)" >&2; exit 1; }
    stage="$target_dir/deb-dev"
    out="$stage/release"
    bin="$out/hookflow"
    mkdir -p "$out"
    strip -o "$bin" "$debug_bin"
    deb_args+=(--no-strip --fast)
    export CARGO_TARGET_DIR="$stage"
fi
[ -x "$bin" ] || { echo "$bin is missing" >&2; exit 1; }

# Generated from the binary that is packaged, so they describe its flags exactly.
assets="$out/packaging"
rm -rf "$assets"
mkdir -p "$assets/man"
"$bin" completions bash >"$assets/hookflow.bash"
"$bin" completions zsh >"$assets/_hookflow"
"$bin" completions fish >"$assets/hookflow.fish"
"$bin" man "$assets/man"
gzip -9n "$assets"/man/*.1

cargo deb "${deb_args[@]}" 2>&1 | tee "$assets/cargo-deb.log" >&2
deb="$(tail -n 1 "$assets/cargo-deb.log")"
[ -f "$deb" ] || { echo "cargo deb did not say where the package is" >&2; exit 1; }
echo "$deb"
