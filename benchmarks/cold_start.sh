#!/bin/bash
# Cold start of the README's main command: a fresh clone, then `scripts/bootstrap nox -s worker`
# until devenv reports "worker ready"; then Ctrl-C stops it. With the committed pylock.toml, or
# with it removed (sync resolves on this machine). The package cache stays warm.
#   benchmarks/cold_start.sh lock|nolock [BRANCH]
set -u
mode=$1
branch=${2:-HEAD}
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)/clone-$mode
git clone -q "$repo" "$dir" && git -C "$dir" checkout -q "$(git -C "$repo" rev-parse "$branch")"
cd "$dir"
if [ "$mode" = nolock ]; then rm pylock.toml; fi
# The worker's own queue (the clone's .env, which git ignores): it consumes nobody's tasks.
echo "OPS_CORE_QUEUE=cold_start_bench" > .env
start=$(date +%s.%N)
setsid scripts/bootstrap nox -s worker > "$dir.log" 2>&1 &
pid=$!
while ! grep -q "worker ready" "$dir.log" 2>/dev/null; do
  if ! kill -0 $pid 2>/dev/null; then echo "$mode: exited early"; tail -5 "$dir.log"; exit 1; fi
  sleep 0.1
done
end=$(date +%s.%N)
echo "$mode: worker ready after $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
kill -INT -- -$pid; wait $pid 2>/dev/null
rm -rf "$(dirname "$dir")"
