#!/usr/bin/env bash
# bench-replicas.sh: run by hand, not a test. Starts the built-in simulator, a scratch database and
# REPLICAS `indexer run` processes sharing SOURCES sources (all served by the one simulator, each
# source a name of its own), lets them run for DURATION, then reports from the database and the
# replicas' /metrics: runs per replica, redundant runs, intervals between runs of a source, lateness,
# ticks enqueued or counted as duplicates, peak connections per replica and in all.
#
#   ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
#     scripts/bench-replicas.sh [-s 1000] [-j 100] [-r 3] [-d 600] [-w 4] [-l 0s] [-k SECONDS] [-f SCHEDULE] [-h SCHEDULE]
#
#   -s sources  -j jobs per source  -r replicas  -d duration in seconds  -w workers per replica
#   -l simulator latency per answer  -k SIGKILL replica 1 that many seconds in, while it runs a sync
#   -f full schedule (default */5 * * * *)  -h head schedule (default @every 1m)
#   -p pool_max_conns per replica (default: the indexer's)
#
# With other schedules, set FULL_SECS and HEAD_SECS to their intervals (for "redundant": less than
# half an interval after the previous run). The scratch database (bench_replicas_<time>) is dropped at the end unless KEEP=1.
set -euo pipefail

FULL_SECS=${FULL_SECS:-300} HEAD_SECS=${HEAD_SECS:-60}
SOURCES=1000 JOBS=100 REPLICAS=3 DURATION=600 WORKERS=4 LATENCY=0s KILL_AFTER= FULL='*/5 * * * *' HEAD='@every 1m' POOL=
while getopts "s:j:r:d:w:l:k:f:h:p:" o; do
	case $o in
	s) SOURCES=$OPTARG ;; j) JOBS=$OPTARG ;; r) REPLICAS=$OPTARG ;; d) DURATION=$OPTARG ;;
	w) WORKERS=$OPTARG ;; l) LATENCY=$OPTARG ;; k) KILL_AFTER=$OPTARG ;; f) FULL=$OPTARG ;; h) HEAD=$OPTARG ;;
	p) POOL=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
: "${ADMIN_URL:?set ADMIN_URL to a PostgreSQL URL of a role that may create databases}"

dir=$(mktemp -d)
db=bench_replicas_$(date +%Y%m%d%H%M%S)
case $ADMIN_URL in *\?*) q='&' ;; *) q='?' ;; esac
db_url=$(sed -E "s#/[^/?]*(\?|$)#/$db\1#" <<<"$ADMIN_URL")
echo "# work directory $dir, database $db"
go build -o "$dir/indexer" ./cmd/indexer

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ ${KEEP:-} == 1 ]] || psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}
trap cleanup EXIT
psql -q "$ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null

sim_port=$((18000 + RANDOM % 1000))
"$dir/indexer" simulate --addr "127.0.0.1:$sim_port" --jobs "$JOBS" --latency "$LATENCY" --log-level warn 2>"$dir/sim.log" &
pids+=($!)

{
	echo "defaults:"
	echo "  schedule: \"$FULL\""
	echo "sources:"
	for i in $(seq -w 1 "$SOURCES"); do
		echo "  - name: s$i"
		echo "    endpoint: http://127.0.0.1:$sim_port"
		echo "    project_id: 0123456789abcdef0123456789abcdef"
		echo "    ak: SIMULATORACCESSKEY01"
		echo "    sk: {env: SIM_SK}"
	done
} >"$dir/sources.yaml"

export INDEXER_CONFIG=$dir/sources.yaml SIM_SK=simulator-secret-key INDEXER_ALLOW_INSECURE_HTTP=true \
	INDEXER_HEAD_SCHEDULE=$HEAD INDEXER_CONCURRENCY=$WORKERS INDEXER_LOG_FORMAT=json INDEXER_LOG_LEVEL=info
INDEXER_DATABASE_URL="$db_url" "$dir/indexer" migrate up >/dev/null

replica_url() {
	local u="$db_url${q}application_name=bench-r$1"
	[[ -z $POOL ]] || u="$u&pool_max_conns=$POOL"
	echo "$u"
}
declare -A rpid
for r in $(seq 1 "$REPLICAS"); do
	INDEXER_DATABASE_URL=$(replica_url "$r") INDEXER_HTTP_ADDR=127.0.0.1:$((19000 + r)) \
		"$dir/indexer" run --no-migrate 2>"$dir/r$r.log" &
	rpid[$r]=$!
	pids+=($!)
done
start=$(date +%s)
echo "# $REPLICAS replicas, $SOURCES sources x $JOBS jobs, $WORKERS workers each, full '$FULL', head '$HEAD', latency $LATENCY, ${DURATION}s"

# Connections of each replica, every second.
(
	while sleep 1; do
		psql -qAtF $'\t' "$ADMIN_URL" -c "SELECT extract(epoch FROM now())::int, application_name, count(*)
			FROM pg_stat_activity WHERE datname = '$db' AND application_name LIKE 'bench-r%' GROUP BY 2" 2>/dev/null || true
	done
) >"$dir/conns.tsv" &
pids+=($!)

killed=
while (($(date +%s) - start < DURATION)); do
	sleep 2
	if [[ -n $KILL_AFTER && -z $killed ]] && (($(date +%s) - start >= KILL_AFTER)); then
		busy=$(psql -qAt "$db_url" -c "SELECT count(*) FROM modelarts.sync_runs WHERE state = 'running' AND pid = ${rpid[1]}")
		if ((busy > 0)); then
			kill -9 "${rpid[1]}"
			killed=$(date +%s)
			echo "# replica 1 (pid ${rpid[1]}) SIGKILLed at $((killed - start))s with $busy runs in flight"
		fi
	fi
done

for r in $(seq 1 "$REPLICAS"); do
	curl -fsS "http://127.0.0.1:$((19000 + r))/metrics" >"$dir/metrics.r$r" 2>/dev/null || : >"$dir/metrics.r$r"
done
end=$(date +%s)
for r in $(seq 1 "$REPLICAS"); do kill -TERM "${rpid[$r]}" 2>/dev/null || true; done
for r in $(seq 1 "$REPLICAS"); do wait "${rpid[$r]}" 2>/dev/null || true; done

echo
echo "## runs per replica (host, pid) and kind"
psql -q "$db_url" -c "SELECT pid, kind, count(*) AS runs, count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
	count(*) FILTER (WHERE state = 'failed') AS failed
	FROM modelarts.sync_runs GROUP BY 1, 2 ORDER BY 1, 2"

echo "## redundant runs: a run of a source and kind that started less than half an interval after the previous one"
psql -q "$db_url" -c "WITH r AS (
	SELECT kind, started_at - lag(started_at) OVER (PARTITION BY source, kind ORDER BY started_at) AS gap
	FROM modelarts.sync_runs)
	SELECT kind, count(*) AS runs,
	       count(*) FILTER (WHERE gap < CASE kind WHEN 'head' THEN interval '$((HEAD_SECS / 2)) s' ELSE interval '$((FULL_SECS / 2)) s' END) AS redundant,
	       round(100.0 * count(*) FILTER (WHERE gap < CASE kind WHEN 'head' THEN interval '$((HEAD_SECS / 2)) s' ELSE interval '$((FULL_SECS / 2)) s' END) / count(*), 2) AS redundant_pct
	FROM r GROUP BY 1 ORDER BY 1"

echo "## interval between two runs of a source (seconds), after the first $((DURATION / 5))s"
psql -q "$db_url" -c "WITH r AS (
	SELECT kind, started_at, extract(epoch FROM started_at - lag(started_at) OVER (PARTITION BY source, kind ORDER BY started_at)) AS gap
	FROM modelarts.sync_runs)
	SELECT kind, count(gap) AS intervals,
	       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)::numeric, 1) AS p50,
	       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY gap)::numeric, 1) AS p95,
	       round(max(gap)::numeric, 1) AS max
	FROM r WHERE started_at > to_timestamp($start + $DURATION / 5) GROUP BY 1 ORDER BY 1"

echo "## sources that never got a run of a kind"
psql -q "$db_url" -c "SELECT k.kind, $SOURCES - count(DISTINCT r.source) AS sources_without_a_run
	FROM (VALUES ('full'), ('head')) AS k(kind) LEFT JOIN modelarts.sync_runs AS r USING (kind) GROUP BY 1 ORDER BY 1"

echo "## lateness: start minus tick (River's jobs, seconds)"
psql -q "$db_url" -c "SELECT args->>'run_kind' AS kind, count(*) AS jobs,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM attempted_at - scheduled_at))::numeric, 2) AS p50,
	round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM attempted_at - scheduled_at))::numeric, 2) AS p95,
	round(max(extract(epoch FROM attempted_at - scheduled_at))::numeric, 2) AS max
	FROM river.river_job WHERE kind = 'vizjob_sync' AND attempted_at IS NOT NULL GROUP BY 1 ORDER BY 1"
echo "## River jobs by state at the end"
psql -q "$db_url" -c "SELECT args->>'run_kind' AS kind, state, count(*) FROM river.river_job WHERE kind = 'vizjob_sync' GROUP BY 1, 2 ORDER BY 1, 2"

echo "## ticks: enqueued + skipped as duplicates (sum of the replicas' /metrics; a killed replica's are lost) vs jobs in River's table"
for k in full head; do
	enq=0 dup=0
	for r in $(seq 1 "$REPLICAS"); do
		e=$(awk -v k="$k" '$1 == "vizjob_runs_enqueued_total{kind=\"" k "\"}" {print $2}' "$dir/metrics.r$r")
		d=$(awk -v k="$k" '$1 == "vizjob_runs_skipped_duplicate_total{kind=\"" k "\"}" {print $2}' "$dir/metrics.r$r")
		enq=$((enq + ${e:-0})) dup=$((dup + ${d:-0}))
	done
	jobs=$(psql -qAt "$db_url" -c "SELECT count(*) FROM river.river_job WHERE kind = 'vizjob_sync' AND args->>'run_kind' = '$k'")
	echo "$k: enqueued $enq, skipped as duplicate $dup, jobs in River's table $jobs"
done

echo "## ledger: rows left running, abandoned rows closed"
psql -q "$db_url" -c "SELECT count(*) FILTER (WHERE state = 'running') AS running,
	count(*) FILTER (WHERE error LIKE 'abandoned%') AS abandoned_closed,
	count(*) FILTER (WHERE error LIKE '%interrupted by shutdown%') AS interrupted_by_shutdown
	FROM modelarts.sync_runs"
[[ -z $killed ]] || {
	echo "## after the kill: the killed replica's jobs run again by the others (River's errors on the jobs)"
	psql -q "$db_url" -c "SELECT id, args->>'source' AS source, args->>'run_kind' AS kind, state, attempt,
		finalized_at - (errors[1]->>'at')::timestamptz AS finished_after_rescue FROM river.river_job
		WHERE kind = 'vizjob_sync' AND array_length(errors, 1) > 0 AND errors[1]->>'error' LIKE '%lease%' ORDER BY id"
	echo "killed at $((killed - start))s"
}

echo "## peak connections per replica, and in all (sampled every second)"
awk -F'\t' '{ n[$2] = ($3 > n[$2] ? $3 : n[$2]); t[$1] += $3 } END {
	for (a in n) printf "%s %d\n", a, n[a]; m = 0; for (s in t) if (t[s] > m) m = t[s]; printf "all %d\n", m }' "$dir/conns.tsv" | sort
echo "## elapsed $((end - start))s; logs in $dir"
grep -h '"level":"ERROR"' "$dir"/r*.log | head -5 || true
