package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/testdb"
)

// The fault matrix: one case per fault of the simulator (and of the database). Each case runs
// `indexer sync` with the fault in force and checks its exit code, its sync_runs row, the number of
// requests it made (the bound is stated per case) and that every wait after a 429 was at least what
// Retry-After asked; then it switches the faults off, syncs again (the quiet sync) and checks that the
// mirror equals the simulator exactly and that the history is sound.
//
// The simulator serves 537 jobs: a clean walk is 1 probe + 6 pages of 100 = 7 list requests.

const (
	matrixJobs = 537
	cleanWalk  = 7 // list requests of one clean walk: the probe and 6 pages
)

type requestCounts struct{ list, detail, token int }

func countRequests(sim *simulator.Simulator) requestCounts {
	var n requestCounts
	for _, r := range sim.Stats().Requests {
		switch {
		case r.Path == "/v3/auth/tokens":
			n.token++
		case strings.HasSuffix(r.Path, "/visualization-jobs"):
			n.list++
		case strings.Contains(r.Path, "/visualization-jobs/"):
			n.detail++
		}
	}
	return n
}

type faultCase struct {
	name   string
	auth   string            // "aksk" (default) or "token"
	env    map[string]string // settings of the faulty sync
	faults simulator.Faults
	// faultsFor, when set, gives the faults instead, from the simulator's jobs.
	faultsFor func(h *harness) simulator.Faults
	before    func(t *testing.T, h *harness, f simulator.Faults) // runs after a quiet first sync when set

	code  int    // exit code of the faulty sync
	state string // its sync_runs.state
	inErr string // part of its sync_runs.error ("" when it succeeded)

	maxList, maxDetail, maxToken int // request bounds of the faulty sync
	check                        func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults)
}

func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	badJobs := func(h *harness, f simulator.Faults) []fetch.Job {
		var out []fetch.Job
		for _, j := range h.sim.Jobs() {
			if f.BadKind(j.ID) != "" {
				out = append(out, j)
			}
		}
		return out
	}
	// Malformed items among the older jobs, not on the probe's page of the 100 newest (see the last
	// bad-item case for those).
	olderJobs := func(kind string) func(h *harness) simulator.Faults {
		return func(h *harness) simulator.Faults {
			f := simulator.Faults{BadItems: []string{kind}}
			for i, j := range h.sim.Jobs() {
				if i >= 30 && i < 400 && i%45 == 0 {
					f.BadItemIDs = append(f.BadItemIDs, j.ID)
				}
			}
			return f
		}
	}
	// deleteAndChange deletes a job that stays well-formed and changes a malformed one in the simulator,
	// between a quiet sync and the faulty one.
	var gone, changed int64
	deleteAndChange := func(t *testing.T, h *harness, f simulator.Faults) {
		bad := badJobs(h, f)
		for _, j := range h.sim.Jobs() {
			if f.BadKind(j.ID) == "" && j.ID > bad[0].ID {
				gone = j.ID
				break
			}
		}
		changed = bad[0].ID
		h.sim.DeleteJob(gone)
		h.sim.SetStatus(changed, 12, time.Minute)
	}

	cases := []faultCase{
		{
			name:   "throttle, Retry-After in seconds",
			faults: simulator.Faults{ThrottleEvery: 4, RetryAfter: time.Second},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 3, // every 4th request retried once: 9 in all
		},
		{
			name:   "throttle, Retry-After as an HTTP-date",
			faults: simulator.Faults{ThrottleEvery: 4, RetryAfter: 2 * time.Second, RetryAfterHTTPDate: true},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 3,
		},
		{
			name:   "throttled on every request: bounded retries",
			env:    map[string]string{"INDEXER_MAX_ATTEMPTS": "3"},
			faults: simulator.Faults{ThrottleEvery: 1, RetryAfter: time.Second},
			code:   exitFailed, state: "failed", inErr: "gave up after 3 attempts",
			maxList: 3, // the probe, tried 3 times
		},
		{
			name:   "Retry-After beyond MaxRetryAfter",
			faults: simulator.Faults{ThrottleEvery: 1, RetryAfter: 10 * time.Minute},
			code:   exitFailed, state: "failed", inErr: "more than the 2m0s allowed",
			maxList: 1,
		},
		{
			name:   "Retry-After beyond the run deadline",
			env:    map[string]string{"INDEXER_RUN_TIMEOUT": "20s"},
			faults: simulator.Faults{ThrottleEvery: 1, RetryAfter: 90 * time.Second},
			code:   exitFailed, state: "failed", inErr: "would outlast the run's deadline",
			maxList: 1,
		},
		{
			name:   "run deadline",
			env:    map[string]string{"INDEXER_RUN_TIMEOUT": "1500ms", "INDEXER_REQUEST_TIMEOUT": "20s"},
			faults: simulator.Faults{SlowEvery: 1, SlowDelay: time.Minute},
			code:   exitFailed, state: "failed", inErr: "run deadline exceeded",
			maxList: 1,
		},
		{
			name:   "502, 503 and 504 with HTML pages",
			faults: simulator.Faults{ServerErrorEvery: 3},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 4, // every 3rd request retried once: 10 in all
		},
		{
			name:   "truncated bodies",
			faults: simulator.Faults{TruncateEvery: 3},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 4,
		},
		{
			name: "answers slower than the request timeout",
			// A timeout well above what a normal answer takes on a loaded machine (a load of 25 on two
			// cores, under the race detector: tens of milliseconds), and slow answers far beyond it: only
			// the slow ones time out, however loaded the machine.
			env:    map[string]string{"INDEXER_REQUEST_TIMEOUT": "2s"},
			faults: simulator.Faults{SlowEvery: 3, SlowDelay: 10 * time.Minute},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 4,
		},
		{
			name:   "connection resets",
			faults: simulator.Faults{ResetEvery: 3},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 4, // the client's or the transport's own retry
		},
		{
			name:   "token expires in the middle of the walk",
			auth:   "token",
			env:    map[string]string{"INDEXER_PAGE_CONCURRENCY": "1"}, // pages in flight together would each meet the expired token
			faults: simulator.Faults{ExpireTokensAfter: 3},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 1, maxToken: 2, // one 401, one renewal
			check: func(t *testing.T, h *harness, _ *pgx.Conn, _ simulator.Faults) {
				if n := h.sim.Stats().AuthFailures; n != 1 {
					t.Errorf("%d authentication failures, want 1", n)
				}
			},
		},
		{
			name:   "JSON labelled text/html",
			faults: simulator.Faults{WrongContentTypeEvery: 2},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk, // accepted as it is
		},
		{
			name:   "HTML maintenance page with status 200",
			faults: simulator.Faults{HTMLPageEvery: 3},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk + 4,
		},
		{
			name:      "items with a field of the wrong type",
			faultsFor: olderJobs(simulator.BadWrongType),
			before:    deleteAndChange,
			code:      exitPartial, state: "partial", inErr: "malformed items were not mirrored",
			// Verified: the malformed jobs' ids account for them. 1 detail call confirms the deletion,
			// after 2 that learn the detail call's answers (an id that cannot exist, a job just listed).
			maxList: cleanWalk, maxDetail: 3,
			check: func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults) {
				var deleted, keptStatus int64
				if err := c.QueryRow(context.Background(), `SELECT
					(SELECT count(*) FROM modelarts.visualization_jobs WHERE job_id = $1 AND deleted_at IS NOT NULL),
					(SELECT status FROM modelarts.visualization_jobs WHERE job_id = $2 AND deleted_at IS NULL)`,
					gone, changed).Scan(&deleted, &keptStatus); err != nil {
					t.Fatal(err)
				}
				if deleted != 1 {
					t.Errorf("job %d, deleted in the API, is not marked deleted: malformed items blocked deletions", gone)
				}
				if keptStatus == 12 {
					t.Errorf("job %d: its malformed status reached the mirror", changed)
				}
				checkBadItems(t, c, badJobs(h, f), true, "status: want an integer, got string")
			},
		},
		{
			// The probe before each walk reads the 100 newest jobs to learn which is last: a malformed
			// item there still gives its place (job_id and create_time), so the walk is verified and
			// the deletion confirmed.
			name: "a malformed item among the newest jobs",
			faultsFor: func(h *harness) simulator.Faults {
				jobs := h.sim.Jobs()
				return simulator.Faults{BadItems: []string{simulator.BadWrongType}, BadItemIDs: []int64{jobs[len(jobs)-1].ID}}
			},
			before: func(t *testing.T, h *harness, f simulator.Faults) { h.sim.DeleteJob(h.sim.Jobs()[10].ID) },
			code:   exitPartial, state: "partial", inErr: "1 malformed items were not mirrored",
			maxList: cleanWalk, maxDetail: 3, // 1 deletion confirmed, 2 calls to learn the detail call's answers
			check: func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults) {
				if r := lastRun(t, c); r.Deleted != 1 {
					t.Errorf("%d jobs marked deleted, want the 1 deleted in the API", r.Deleted)
				}
				checkBadItems(t, c, badJobs(h, f), true, "status: want an integer, got string")
			},
		},
		{
			name:   "items with a job_id of the wrong type",
			faults: simulator.Faults{BadItems: []string{simulator.BadIDType}, BadItemEvery: 50},
			code:   exitPartial, state: "partial", inErr: "no walk of 3 could be verified",
			maxList: 3 * cleanWalk,
			check: func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults) {
				checkBadItems(t, c, badJobs(h, f), false, "job_id: want an integer, got string")
			},
		},
		{
			name:   "items without a job_id",
			faults: simulator.Faults{BadItems: []string{simulator.BadMissingID, simulator.BadNotObject}, BadItemEvery: 50},
			code:   exitPartial, state: "partial", inErr: "without a usable job_id",
			maxList: 3 * cleanWalk,
			check: func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults) {
				var n int64
				if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.bad_items WHERE job_id IS NULL
					AND (reason = 'job_id is missing' OR reason = 'want a JSON object, got array')`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if want := len(badJobs(h, f)); n != int64(want) {
					t.Errorf("%d bad items without a job_id kept, want %d", n, want)
				}
			},
		},
		{
			name:      "negative durations",
			faultsFor: olderJobs(simulator.BadNegativeDuration),
			code:      exitPartial, state: "partial", inErr: "malformed items were not mirrored",
			maxList: cleanWalk,
			check: func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults) {
				bad := badJobs(h, f)
				checkBadItems(t, c, bad, true, "duration: ")
				var n int64
				if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_jobs WHERE duration_ms < 0`).Scan(&n); err != nil || n != 0 {
					t.Errorf("%d negative durations in the mirror (%v)", n, err)
				}
			},
		},
		{
			name:   "descriptions of 1 MiB",
			faults: simulator.Faults{BadItems: []string{simulator.BadHugeDesc}, BadItemEvery: 50},
			code:   exitOK, state: "succeeded",
			maxList: cleanWalk,
			check: func(t *testing.T, h *harness, c *pgx.Conn, f simulator.Faults) {
				bad := badJobs(h, f)
				var n int64
				if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_jobs
					WHERE job_desc = $1 AND raw->>'job_desc' = $1`, simulator.HugeDescription()).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != int64(len(bad)) || n == 0 {
					t.Errorf("%d jobs hold the 1 MiB description exactly, want %d", n, len(bad))
				}
			},
		},
		{
			name:   "duplicate job_ids across pages",
			env:    map[string]string{"INDEXER_PAGE_CONCURRENCY": "1"}, // the fault copies the page served just before
			faults: simulator.Faults{DuplicateAcrossPages: true},
			code:   exitPartial, state: "partial", inErr: "not seen",
			maxList: 3 * cleanWalk,
		},
		{
			name:   "job_total_count lies high",
			faults: simulator.Faults{LieTotalBy: 7},
			code:   exitPartial, state: "partial", inErr: "no walk of 3 could be verified",
			maxList: 3 * cleanWalk,
		},
		{
			name:   "job_total_count lies low",
			faults: simulator.Faults{LieTotalBy: -5},
			code:   exitPartial, state: "partial", inErr: "no walk of 3 could be verified",
			maxList: 3 * cleanWalk,
		},
		{
			// A total that lies low by exactly the jobs of the last page: the full page that reaches it is
			// followed by one more request, which finds the last jobs; the walk then sees more jobs than
			// listed and cannot be verified, like any other lying total.
			name:   "job_total_count lies low on a page boundary",
			faults: simulator.Faults{LieTotalBy: -37},
			before: func(*testing.T, *harness, simulator.Faults) {},
			code:   exitPartial, state: "partial", inErr: "no walk of 3 could be verified",
			maxList: 3 * cleanWalk,
			check: func(t *testing.T, h *harness, c *pgx.Conn, _ simulator.Faults) {
				if r := lastRun(t, c); r.Deleted != 0 || r.Seen != matrixJobs {
					t.Errorf("run %+v: want every job seen and none marked deleted by a lying total", r)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runFaultCase(t, tc)
		})
	}
}

func runFaultCase(t *testing.T, tc faultCase) {
	h := newHarness(t, matrixJobs, cmpOr(tc.auth, "aksk"))
	h.env["INDEXER_RATE_LIMIT"] = "50"
	h.mustRun("migrate", "up")
	c := h.conn()
	faults := tc.faults
	if tc.faultsFor != nil {
		faults = tc.faultsFor(h)
	}
	if tc.before != nil {
		h.mustRun("sync")
		tc.before(t, h, faults)
	}

	saved := map[string]string{}
	for k, v := range tc.env {
		saved[k] = h.env[k]
		h.env[k] = v
	}
	if err := h.sim.SetFaults(faults); err != nil {
		t.Fatal(err)
	}
	h.sim.ResetStats()
	code, _, errOut := h.run("sync")
	if code != tc.code {
		t.Fatalf("faulty sync: exit %d, want %d\n%s", code, tc.code, tail(errOut, 4000))
	}
	r := lastRun(t, c)
	if r.State != tc.state || !r.Finished || !strings.Contains(r.Error, tc.inErr) || (tc.inErr == "") != (r.Error == "") {
		t.Fatalf("faulty sync recorded %+v, want state %s and an error containing %q\n%s", r, tc.state, tc.inErr, tail(errOut, 4000))
	}
	n := countRequests(h.sim)
	if n.list > tc.maxList || n.detail > tc.maxDetail || n.token > max(tc.maxToken, btoi(tc.auth == "token")) {
		t.Errorf("faulty sync made %d list, %d detail and %d token requests; bound %d, %d and %d",
			n.list, n.detail, n.token, tc.maxList, tc.maxDetail, max(tc.maxToken, btoi(tc.auth == "token")))
	}
	checkRetryAfterHonoured(t, h.sim.FaultEvents())
	if tc.check != nil {
		tc.check(t, h, c, faults)
	}

	// The quiet sync.
	for k, v := range saved {
		h.env[k] = v
	}
	if err := h.sim.SetFaults(simulator.Faults{}); err != nil {
		t.Fatal(err)
	}
	h.sim.ResetStats()
	if code, _, errOut := h.run("sync"); code != exitOK {
		t.Fatalf("quiet sync: exit %d\n%s", code, tail(errOut, 4000))
	}
	if r := lastRun(t, c); r.State != "succeeded" {
		t.Fatalf("quiet sync recorded %+v", r)
	}
	if n := countRequests(h.sim); n.list > cleanWalk || n.detail > 3 {
		t.Errorf("quiet sync made %d list and %d detail requests, want at most %d and 3", n.list, n.detail, cleanWalk)
	}
	assertMirror(t, c, "sim", h.sim.Jobs())
	checkHistory(t, c)
}

// checkRetryAfterHonoured checks that after each 429 the same request came back no earlier than its
// Retry-After allowed.
func checkRetryAfterHonoured(t *testing.T, events []simulator.FaultEvent) {
	t.Helper()
	for i, e := range events {
		if e.Kind != simulator.FaultThrottle {
			continue
		}
		for _, next := range events[i+1:] {
			if next.Path == e.Path && next.RawQuery == e.RawQuery {
				if next.At.Before(e.RetryUntil) {
					t.Errorf("request %d came %s after the 429 of request %d, which asked to wait until %s (%s)",
						next.N, next.At.Sub(e.At), e.N, e.RetryUntil.Format(time.RFC3339Nano), e.RetryUntil.Sub(e.At))
				}
				break
			}
		}
	}
}

// checkBadItems checks that modelarts.bad_items holds one row per malformed job, with its job_id when
// withID says the kind keeps it, and the reason.
func checkBadItems(t *testing.T, c *pgx.Conn, bad []fetch.Job, withID bool, reason string) {
	t.Helper()
	if len(bad) == 0 {
		t.Fatal("no malformed job in the fixture")
	}
	var n, ids int64
	err := c.QueryRow(context.Background(), `SELECT count(*), count(job_id) FROM modelarts.bad_items
		WHERE source = 'sim' AND reason LIKE $1 || '%' AND last_sync_run_id = (SELECT max(id) FROM modelarts.sync_runs)`,
		reason).Scan(&n, &ids)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := 0
	if withID {
		wantIDs = len(bad)
	}
	if n != int64(len(bad)) || ids != int64(wantIDs) {
		t.Errorf("bad_items holds %d rows (%d with a job_id) for %q, want %d (%d)", n, ids, reason, len(bad), wantIDs)
	}
	if !withID {
		return
	}
	for _, j := range bad {
		var raw string
		if err := c.QueryRow(context.Background(), `SELECT raw FROM modelarts.bad_items WHERE job_id = $1`, j.ID).Scan(&raw); err != nil {
			t.Errorf("job %d: no bad item kept: %v", j.ID, err)
		}
	}
}

// checkHistory checks the invariants of the history that a fault must not break: at most one open
// version per job, exactly one for a live job, none for a deleted one, and versions that never overlap.
func checkHistory(t *testing.T, c *pgx.Conn) {
	t.Helper()
	var multiOpen, liveWithout, deletedWith, overlaps int64
	err := c.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM modelarts.visualization_job_history WHERE valid_to IS NULL
			GROUP BY source, job_id HAVING count(*) > 1) x),
		(SELECT count(*) FROM modelarts.visualization_jobs j WHERE j.deleted_at IS NULL AND NOT EXISTS (
			SELECT 1 FROM modelarts.visualization_job_history h WHERE h.source = j.source AND h.job_id = j.job_id AND h.valid_to IS NULL)),
		(SELECT count(*) FROM modelarts.visualization_jobs j WHERE j.deleted_at IS NOT NULL AND EXISTS (
			SELECT 1 FROM modelarts.visualization_job_history h WHERE h.source = j.source AND h.job_id = j.job_id AND h.valid_to IS NULL)),
		(SELECT count(*) FROM modelarts.visualization_job_history a JOIN modelarts.visualization_job_history b
			ON a.source = b.source AND a.job_id = b.job_id AND a.id < b.id
			AND tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to))`).
		Scan(&multiOpen, &liveWithout, &deletedWith, &overlaps)
	if err != nil {
		t.Fatal(err)
	}
	if multiOpen+liveWithout+deletedWith+overlaps != 0 {
		t.Errorf("history broken: %d jobs with several open versions, %d live jobs without one, %d deleted jobs with one, %d overlapping versions",
			multiOpen, liveWithout, deletedWith, overlaps)
	}
}

// TestDatabaseConnectionsCutMidRun cuts every database connection while the run reads page 3 (the
// connection of the run drops, as in a network failure or a server restart). The run ends failed and
// is recorded through a fresh connection; the server released the source's lock with the session;
// the next sync succeeds; no job row is duplicated or lost.
func TestDatabaseConnectionsCutMidRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, matrixJobs, "aksk")
	h.env["INDEXER_RATE_LIMIT"] = "0"
	h.env["INDEXER_PAGE_CONCURRENCY"] = "1" // request n reads page n-1 only when pages come one at a time
	h.mustRun("migrate", "up")
	proxy, viaProxy := testdb.NewProxy(t, h.db)
	h.env["INDEXER_DATABASE_URL"] = viaProxy
	c := h.conn() // direct, not through the proxy

	cut := 0
	must(t, h.sim.SetFaults(simulator.Faults{OnRequest: func(n int, r *http.Request) {
		if n == 4 { // the probe, pages 1 and 2 went through: cut before page 3 is stored
			cut = proxy.CutAll()
		}
	}}))
	code, _, errOut := h.run("sync")
	if code != exitFailed || cut == 0 {
		t.Fatalf("sync with its connections cut: exit %d (%d connections cut), want %d\n%s", code, cut, exitFailed, tail(errOut, 4000))
	}
	r := lastRun(t, c)
	if r.State != "failed" || !r.Finished || !strings.Contains(r.Error, "database unavailable") {
		t.Fatalf("run recorded %+v, want failed with the database named", r)
	}
	var stored int64
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_jobs`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 200 {
		t.Errorf("%d jobs stored by the cut run, want pages 1 and 2 (200)", stored)
	}
	if locks := leasesOnceReleased(t, c); locks != 0 {
		t.Errorf("%d source leases still held 10 s after the run", locks)
	}

	must(t, h.sim.SetFaults(simulator.Faults{}))
	if code, _, errOut := h.run("sync"); code != exitOK {
		t.Fatalf("next sync: exit %d\n%s", code, tail(errOut, 4000))
	}
	assertMirror(t, c, "sim", h.sim.Jobs())
	checkHistory(t, c)
	checkNoDuplicates(t, c, matrixJobs)
}

// TestDatabaseRestartMidRun: the database goes away in the middle of a run and stays away until the
// run has ended, so the run cannot even record its outcome; the process exits 1. Once the database is
// back, the next run closes the abandoned ledger row as failed and succeeds.
func TestDatabaseRestartMidRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, matrixJobs, "aksk")
	h.env["INDEXER_RATE_LIMIT"] = "0"
	h.mustRun("migrate", "up")
	h.mustRun("sync")                         // a mirror to update
	for _, j := range h.sim.Jobs()[300:320] { // page 4: not reached by the run cut off
		h.sim.SetStatus(j.ID, 12, time.Minute)
	}
	proxy, viaProxy := testdb.NewProxy(t, h.db)
	h.env["INDEXER_DATABASE_URL"] = viaProxy
	c := h.conn()

	must(t, h.sim.SetFaults(simulator.Faults{OnRequest: func(n int, r *http.Request) {
		if n == 3 {
			proxy.Refuse(true)
			proxy.CutAll()
		}
	}}))
	code, _, errOut := h.run("sync")
	if code != exitFailed {
		t.Fatalf("sync during the outage: exit %d, want %d\n%s", code, exitFailed, tail(errOut, 4000))
	}
	if !strings.Contains(errOut, "record run outcome") {
		t.Errorf("the log does not say the outcome could not be recorded:\n%s", tail(errOut, 4000))
	}
	var running int64
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.sync_runs WHERE state = 'running'`).Scan(&running); err != nil {
		t.Fatal(err)
	}
	if running != 1 {
		t.Fatalf("%d runs left running, want the one cut off", running)
	}

	proxy.Refuse(false)
	must(t, h.sim.SetFaults(simulator.Faults{}))
	// The cut run's lease (modelarts.source_leases) is no longer renewed: until it expires, the next
	// sync finds the source busy and skips it (exit 0), naming the holder.
	code, _, errOut = h.run("sync")
	if code != exitOK || !strings.Contains(errOut, "skipped") || !strings.Contains(errOut, "holder_pid") {
		t.Fatalf("sync while the cut run's lease lasts: exit %d, want %d and a skip naming the holder\n%s", code, exitOK, tail(errOut, 4000))
	}
	// A lease later, it has expired.
	if _, err := c.Exec(context.Background(), `UPDATE modelarts.source_leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = h.run("sync")
	if code != exitOK {
		t.Fatalf("sync after the outage: exit %d\n%s", code, tail(errOut, 4000))
	}
	var abandoned int64
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.sync_runs
		WHERE state = 'failed' AND error LIKE 'abandoned%' AND finished_at IS NOT NULL`).Scan(&abandoned); err != nil {
		t.Fatal(err)
	}
	if abandoned != 1 {
		t.Errorf("%d abandoned runs closed, want 1", abandoned)
	}
	if r := lastRun(t, c); r.State != "succeeded" || r.Updated != 20 {
		t.Errorf("run after the outage recorded %+v, want succeeded with the 20 changed jobs", r)
	}
	assertMirror(t, c, "sim", h.sim.Jobs())
	checkHistory(t, c)
	checkNoDuplicates(t, c, matrixJobs)
}

func checkNoDuplicates(t *testing.T, c *pgx.Conn, jobs int) {
	t.Helper()
	var rows, distinct, versions int64
	if err := c.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (source, job_id)),
		(SELECT count(*) FROM modelarts.visualization_job_history WHERE valid_to IS NULL)
		FROM modelarts.visualization_jobs`).Scan(&rows, &distinct, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || rows != int64(jobs) || versions != int64(jobs) {
		t.Errorf("%d job rows, %d distinct, %d open versions; want %d of each", rows, distinct, versions, jobs)
	}
}

// leasesOnceReleased waits up to 10 s for the source leases of the test database to be released
// and returns how many are still held: the run that failed records its outcome, then releases its
// lease, once the database answers again.
func leasesOnceReleased(t *testing.T, c *pgx.Conn) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int64
		if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.source_leases WHERE expires_at > now()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
