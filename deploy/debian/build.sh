#!/usr/bin/env bash
# Builds the Debian packages target/debian/vigil-agent_*.deb and target/debian/vigil-collector_*.deb:
# both binaries with the `packaging` profile (Cargo.toml), the man pages generated from their clap
# definitions (vigil-xtask man), then cargo-deb with the [package.metadata.deb] of each crate
# (systemd unit, /etc/vigil/*.toml conffiles, system user and state directory in postinst).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "build.sh: cargo-deb is not installed: cargo install --locked cargo-deb --version 3.8.0" >&2
  exit 1
fi
cargo build --locked --profile packaging -p vigil-agent -p vigil-collector -p vigil-xtask --bins
target/packaging/vigil-xtask man target/man
for package in vigil-agent vigil-collector; do
  cargo deb --no-build --profile packaging -p "$package" --locked
done
ls -l target/debian/*.deb
