#!/usr/bin/env bash
# Builds the Debian packages target/debian/vigil-agent_*.deb and target/debian/vigil-collector_*.deb:
# both binaries with the `packaging` profile (Cargo.toml), the man pages generated from their clap
# definitions (vigil-xtask man), then cargo-deb with the [package.metadata.deb] of each crate
# (systemd unit, /etc/vigil/*.toml conffiles, system user and state directory in postinst).
#
# Usage: deploy/debian/build.sh [--profile NAME]   (default: packaging)
# `--profile dev` packages the debug binaries that `cargo build --workspace --bins` already built
# (what .ci/run does: it checks the packaging, install and run paths without a second full
# optimized build of every dependency; see the README for the figures).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=packaging
if [ "${1:-}" = "--profile" ] && [ -n "${2:-}" ]; then
  profile=$2
elif [ $# -gt 0 ]; then
  echo "build.sh: unknown argument $1: use --profile NAME" >&2
  exit 2
fi
out=$profile
[ "$profile" = "dev" ] && out=debug
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "build.sh: cargo-deb is not installed: cargo install --locked cargo-deb --version 3.8.0" >&2
  exit 1
fi
if [ "$profile" = "dev" ]; then
  # Exactly the test step's build (same feature set), so nothing is rebuilt.
  cargo build --locked --workspace --bins
else
  cargo build --locked --profile "$profile" -p vigil-agent -p vigil-collector -p vigil-xtask --bins
fi
"target/$out/vigil-xtask" man target/man
for package in vigil-agent vigil-collector; do
  cargo deb --no-build --profile "$profile" -p "$package" --locked 2>&1 | grep -v "^warning: Only source paths"
done
ls -l target/debian/*.deb
