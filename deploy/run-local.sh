#!/usr/bin/env bash
# Runs Vigil on this machine: builds the release binaries, starts the collector (embedded SQLite
# store in ./vigil-data) and an agent reporting this host, both on loopback, and prints where to
# look. Ctrl-C stops both (each flushes and exits 0).
set -euo pipefail
cd "$(dirname "$0")/.."

listen="${VIGIL_LISTEN:-127.0.0.1:9470}"
interval="${VIGIL_INTERVAL:-10s}"
url="http://${listen}"

echo "building release binaries (the first build takes a few minutes)..."
cargo build --release --locked --bins -p vigil-collector -p vigil-agent

# Each in its own session, so Ctrl-C reaches only this script, which then stops the agent first
# (its last batch still reaches the collector) and the collector second.
setsid ./target/release/vigil-collector --listen "$listen" --data-dir ./vigil-data &
collector=$!
agent=""
stop() {
  trap - INT TERM EXIT
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
  kill -TERM "$collector" 2>/dev/null && wait "$collector" 2>/dev/null || true
}
trap stop INT TERM EXIT

for _ in $(seq 1 100); do
  if curl -fsS "$url/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$collector" 2>/dev/null; then echo "the collector exited: see the log above" >&2; exit 1; fi
  sleep 0.1
done

setsid ./target/release/vigil-agent --collector "$url" --interval "$interval" --state-dir ./vigil-agent-state &
agent=$!

cat <<INFO

Vigil is running (collector pid $collector, agent pid $agent, agent interval $interval).
  hosts:         curl -s $url/v1/hosts
  one host:      curl -s $url/v1/hosts/$(hostname)
  metrics:       curl -s $url/metrics | grep vigil_host_
  health:        curl -s $url/readyz
  one sample:    ./target/release/vigil-agent --once
Prometheus scrape config: deploy/prometheus/prometheus.yml. Ctrl-C stops both.

INFO
wait "$collector"
