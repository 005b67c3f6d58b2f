#!/usr/bin/env bash
# Start two local witnesses (litewitness, built by `make witness`) for the service log that SIGNING_KEY_FILE signs,
# each with its own key and ssh-agent, under var/witnesses/ (or $WITNESS_DIR); write their verifier keys to
# keys there, one per line (what --witness-key takes); print the line that configures the service for them:
#
#   export PROCESS_MEMORY_WITNESSES='<w1 key> http://127.0.0.1:7381;<w2 key> http://127.0.0.1:7382'
#
# Usage: tools/witness/local.sh SIGNING_KEY_FILE     (ports: $WITNESS_PORT, default 7381, and the next one)
#        tools/witness/local.sh stop
# The key's name is the log's origin (PROCESS_MEMORY_LOG_ORIGIN): witnesses know a log's key by it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/.cache/bin"
dir="${WITNESS_DIR:-$root/var/witnesses}"

stop() {
  for pidfile in "$dir"/w*/*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}
if [ "${1:-}" = stop ]; then
  stop
  exit 0
fi
key_file="${1:?usage: tools/witness/local.sh SIGNING_KEY_FILE | stop}"
[ -x "$bin/litewitness" ] || { echo "run make witness first" >&2; exit 2; }
log_key="$("$root/.venv/bin/python" -c 'import sys; from process_memory.proofs.notes import Signer
print(Signer.from_key(open(sys.argv[1]).read()).verifier_key)' "$key_file")"
origin="${log_key%%+*}"
stop
pairs=()
for n in 1 2; do
  w="$dir/w$n"
  port=$(( ${WITNESS_PORT:-7381} + n - 1 ))
  mkdir -p "$w"
  [ -f "$w/key" ] || ssh-keygen -q -t ed25519 -N '' -f "$w/key"
  rm -f "$w/agent.sock"
  ssh-agent -a "$w/agent.sock" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\).*/\1/p' > "$w/agent.pid"
  SSH_AUTH_SOCK="$w/agent.sock" ssh-add -q "$w/key" 2>/dev/null
  "$bin/witnessctl" list-logs -db "$w/witness.db" 2>/dev/null | grep -q "\"origin\":\"$origin\"" \
    || "$bin/witnessctl" add-log -db "$w/witness.db" -origin "$origin" >/dev/null
  "$bin/witnessctl" add-key -db "$w/witness.db" -origin "$origin" -key "$log_key" >/dev/null 2>&1 || true
  fingerprint="$(ssh-keygen -l -E sha256 -f "$w/key.pub" | cut -d' ' -f2)"
  "$bin/litewitness" -name "w$n.local" -key "$fingerprint" -ssh-agent "$w/agent.sock" -db "$w/witness.db" \
    -listen "127.0.0.1:$port" >>"$w/litewitness.log" 2>&1 &
  echo $! > "$w/litewitness.pid"
  for _ in $(seq 100); do
    page="$(curl -s "http://127.0.0.1:$port/" || true)"
    [ -n "$page" ] && break
    sleep 0.1
  done
  witness_key="$(grep -oE "w$n\.local\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+" <<<"$page" | head -1)"
  [ -n "$witness_key" ] || { echo "witness $n did not start: see $w/litewitness.log" >&2; exit 1; }
  pairs+=("$witness_key http://127.0.0.1:$port")
done
printf '%s\n' "${pairs[0]%% *}" "${pairs[1]%% *}" > "$dir/keys"
echo "export PROCESS_MEMORY_WITNESSES='${pairs[0]};${pairs[1]}'"
