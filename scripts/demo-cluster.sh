#!/usr/bin/env bash
# The cluster half of `make demo`: three wmr nodes on loopback, a corpus put
# with 2 replicas, word count submitted to one node, the top words read
# from another, and the nodes stopped (also if anything fails).
set -euo pipefail
WMR=${WMR:-./bin/wmr}
DEMO=${DEMO:-build/demo}
BASE=${BASE_PORT:-18080}
CL=$DEMO/cluster
rm -rf "$CL" && mkdir -p "$CL"
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
for i in 1 2 3; do
  join=()
  [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$((BASE + 1000 + 1))")
  "$WMR" node --local --data "$CL/n$i" --http "127.0.0.1:$((BASE + i))" --gossip "127.0.0.1:$((BASE + 1000 + i))" "${join[@]}" 2>"$CL/n$i.log" &
  pids+=($!)
  # Wait until the node answers.
  for _ in $(seq 100); do "$WMR" members --node "127.0.0.1:$((BASE + i))" >/dev/null 2>&1 && break; sleep 0.1; done
done
for _ in $(seq 100); do [ "$("$WMR" members --node 127.0.0.1:$((BASE + 3)) | grep -c alive)" = 3 ] && break; sleep 0.1; done
echo "== a 3-node cluster on 127.0.0.1"
"$WMR" members --node "127.0.0.1:$((BASE + 3))"
echo "== wmr put: the books, cut into 64 KiB shards, 2 replicas each"
"$WMR" put --node "http://127.0.0.1:$((BASE + 1))" --dataset books --replicas 2 --block-size 64KiB "$DEMO/books/"
echo "== wmr submit to node 2, --wait"
"$WMR" submit --node "http://127.0.0.1:$((BASE + 2))" --wasm build/examples/wordcount-go.wasm --input books --output counts --reducers 4 --wait
echo "== top 10 words, read from node 3 with wmr cat"
"$WMR" cat --node "http://127.0.0.1:$((BASE + 3))" counts > "$CL/counts.txt"
sort -t$'\t' -k2,2nr -k1,1 "$CL/counts.txt" > "$CL/top.txt"
head -10 "$CL/top.txt"
"$WMR" jobs --node "http://127.0.0.1:$((BASE + 1))" > "$CL/jobs.txt"
job=$(awk 'NR==2 {print $1}' "$CL/jobs.txt")
echo "== wmr status $job (every task attempt; maps ran where their shard lives)"
"$WMR" status "$job" --node "http://127.0.0.1:$((BASE + 1))" > "$CL/status.txt"
head -8 "$CL/status.txt"
echo "== stopping the nodes"
