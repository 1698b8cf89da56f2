#!/usr/bin/env bash
# After `dpkg -i` of both packages (as root): checks what they installed and runs it. The
# installed binaries answer --version and --check-config on the shipped /etc/vigil files, the
# units pass systemd-analyze verify, users, state directories and man pages exist; then the
# installed collector runs as user vigil on a free loopback port with its shipped config, and the
# installed agent, as user vigil-agent, reports to it until /v1/hosts lists this host. Both are
# stopped by PID. Every wait is bounded.
set -euo pipefail
fail() { echo "smoke.sh: $*" >&2; exit 1; }

for binary in vigil-agent vigil-collector; do
  component=${binary#vigil-}
  version=$("/usr/bin/$binary" --version) || fail "$binary --version failed"
  case "$version" in "$binary "*) ;; *) fail "$binary --version printed: $version" ;; esac
  "/usr/bin/$binary" --check-config --config "/etc/vigil/$component.toml" >/dev/null \
    || fail "$binary --check-config on /etc/vigil/$component.toml failed"
  dpkg-query -W -f='${Conffiles}\n' "$binary" | grep -q "/etc/vigil/$component.toml" \
    || fail "/etc/vigil/$component.toml is not a conffile of $binary"
  [ -f "/usr/share/man/man1/$binary.1" ] || [ -f "/usr/share/man/man1/$binary.1.gz" ] \
    || fail "no man page for $binary"
  echo "$version: --version, --check-config, conffile and man page ok"
done
for user in vigil vigil-agent; do
  getent passwd "$user" >/dev/null || fail "user $user was not created"
  [ "$(stat -c %U "/var/lib/$user")" = "$user" ] || fail "/var/lib/$user is not owned by $user"
done
units=(/usr/lib/systemd/system/vigil-agent.service /usr/lib/systemd/system/vigil-collector.service)
for unit in "${units[@]}"; do [ -f "$unit" ] || fail "$unit is missing"; done
if command -v systemd-analyze >/dev/null 2>&1; then
  verify=$(systemd-analyze verify "${units[@]}" 2>&1) || fail "systemd-analyze verify: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
  echo "units: systemd-analyze verify clean"
fi

log=$(mktemp)
# Port 0: the kernel picks a free port; the collector logs the address it bound.
setpriv --reuid=vigil --regid=vigil --init-groups env -i VIGIL_DATA_DIR=/var/lib/vigil \
  /usr/bin/vigil-collector --config /etc/vigil/collector.toml --listen 127.0.0.1:0 >"$log" 2>&1 &
collector=$!
agent=""
state=$(mktemp -d)
chown vigil-agent:vigil-agent "$state"
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
  kill "$collector" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
get() { curl -fsS --max-time 2 "$1" 2>/dev/null; }
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*vigil-collector listening.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
  [ -n "$port" ] && get "http://127.0.0.1:$port/readyz" >/dev/null && break
  kill -0 "$collector" 2>/dev/null || { cat "$log"; fail "the installed collector exited"; }
  sleep 0.2
done
get "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$log"; fail "the installed collector never got ready"; }
setpriv --reuid=vigil-agent --regid=vigil-agent --init-groups env -i /usr/bin/vigil-agent --config /etc/vigil/agent.toml \
  --collector "http://127.0.0.1:$port" --state-dir "$state" --interval 1s --host-id deb-smoke \
  >>"$log" 2>&1 &
agent=$!
for _ in $(seq 1 100); do
  get "http://127.0.0.1:$port/v1/hosts" | grep -q '"deb-smoke"' && break
  sleep 0.2
done
get "http://127.0.0.1:$port/v1/hosts" | grep -q '"deb-smoke"' \
  || { cat "$log"; fail "the installed agent's host never reached the installed collector"; }
echo "installed collector (user vigil) and agent (user vigil-agent) run: host deb-smoke reported"
