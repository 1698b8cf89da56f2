#!/usr/bin/env bash
# Installs Vigil on a host without dpkg: binaries, configuration, systemd units, system users and
# state directories, from a source tree (run it from the checkout or an unpacked release). It is
# idempotent: run it again to upgrade; an existing /etc/vigil/*.toml is kept.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/install.sh [OPTIONS] [agent|collector|all]

Installs vigil-agent, vigil-collector or both (default: all) on this host:
  PREFIX/bin/vigil-*                       the binaries (from --bin-dir)
  /etc/vigil/{agent,collector}.toml        the shipped configuration, only if not there yet
  /etc/systemd/system/vigil-*.service      the hardened units from deploy/systemd/
  PREFIX/share/doc/vigil-*/examples/       every configuration key, commented
  PREFIX/share/man/man1/vigil-*.1          man pages, if target/man has them
  users vigil and vigil-agent, state in /var/lib/vigil and /var/lib/vigil-agent
then enables and starts the units (when systemd runs and --no-start is not given).
Running it again upgrades the binaries and units and keeps your configuration.

Options:
  --bin-dir DIR  where the built binaries are (default: target/packaging, else target/release;
                 build them with `cargo build --profile packaging --locked --bins`)
  --prefix DIR   installation prefix (default: /usr/local)
  --root DIR     install into DIR instead of / (an image or a test): no users, no systemctl
  --no-start     install and enable nothing in systemd: only copy the files
  -h, --help     this text
USAGE
}

die() { echo "install.sh: $1" >&2; exit "${2:-1}"; }

source_dir="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir=""
prefix="/usr/local"
root="/"
start=1
what="all"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --bin-dir|--prefix|--root)
      [ $# -ge 2 ] || die "$1 needs a value: see --help" 2
      case "$1" in
        --bin-dir) bin_dir="$2" ;;
        --prefix) prefix="$2" ;;
        --root) root="$2" ;;
      esac
      shift 2 ;;
    --no-start) start=0; shift ;;
    agent|collector|all) what="$1"; shift ;;
    *) die "unknown argument $1: see --help" 2 ;;
  esac
done
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path, not $prefix" 2 ;; esac
if [ -z "$bin_dir" ]; then
  bin_dir="$source_dir/target/packaging"
  [ -x "$bin_dir/vigil-agent" ] || [ -x "$bin_dir/vigil-collector" ] || bin_dir="$source_dir/target/release"
fi
root="${root%/}"
live=0
if [ -z "$root" ]; then
  live=1
  [ "$(id -u)" -eq 0 ] || die "run as root to install into / (or pass --root DIR)"
fi

components=(agent collector)
[ "$what" = "all" ] || components=("$what")

for component in "${components[@]}"; do
  name="vigil-$component"
  case "$component" in
    agent) user="vigil-agent"; state="/var/lib/vigil-agent" ;;
    collector) user="vigil"; state="/var/lib/vigil" ;;
  esac
  [ -x "$bin_dir/$name" ] || die "no $name in $bin_dir: build it with \`cargo build --profile packaging --locked --bins\` or pass --bin-dir"

  install -D -m 0755 "$bin_dir/$name" "$root$prefix/bin/$name"
  config="$root/etc/vigil/$component.toml"
  if [ -e "$config" ]; then
    echo "$name: kept the existing /etc/vigil/$component.toml"
  else
    install -D -m 0644 "$source_dir/deploy/config/$component.toml" "$config"
  fi
  install -D -m 0644 "$source_dir/deploy/config/$component.example.toml" \
    "$root$prefix/share/doc/$name/examples/$component.example.toml"
  for page in "$source_dir"/target/man/"$name".1 "$source_dir"/target/man/"$name"-*.1; do
    if [ -e "$page" ]; then
      install -D -m 0644 "$page" "$root$prefix/share/man/man1/$(basename "$page")"
    fi
  done
  unit="$root/etc/systemd/system/$name.service"
  mkdir -p "$(dirname "$unit")"
  sed -e "s#^ExecStart=/usr/bin/#ExecStart=$prefix/bin/#" \
      -e "s#file:///usr/share/doc/#file://$prefix/share/doc/#" \
      "$source_dir/deploy/systemd/$name.service" > "$unit.tmp"
  chmod 0644 "$unit.tmp"
  mv "$unit.tmp" "$unit"

  if [ "$live" -eq 1 ]; then
    getent group "$user" >/dev/null || groupadd --system "$user"
    getent passwd "$user" >/dev/null || useradd --system --gid "$user" --home-dir "$state" \
      --no-create-home --shell /usr/sbin/nologin --comment "Vigil $component" "$user"
    install -d -o "$user" -g "$user" -m 0750 "$state"
  else
    install -d -m 0750 "$root$state"
  fi
  echo "$name: installed $prefix/bin/$name, /etc/vigil/$component.toml, /etc/systemd/system/$name.service"
done

if [ "$live" -eq 1 ] && [ "$start" -eq 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  for component in "${components[@]}"; do
    systemctl enable "vigil-$component.service"
    systemctl restart "vigil-$component.service"
    echo "vigil-$component: running; logs: journalctl -u vigil-$component"
  done
else
  for component in "${components[@]}"; do
    echo "vigil-$component: start it with: systemctl daemon-reload && systemctl enable --now vigil-$component"
  done
fi
