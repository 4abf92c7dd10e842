//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/testdb"
)

// bigDescServer serves jobs jobs whose descriptions are descLen bytes each, sorted by create_time in
// either order, as the list call does: 100-job pages of 32 MB.
func bigDescServer(t *testing.T, jobs, descLen int) string {
	desc := strings.Repeat("0123456789abcdef", descLen/16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		per, _ := strconv.Atoi(q.Get("per_page"))
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 1<<16)
		fmt.Fprintf(bw, `{"is_success":true,"quotas":100,"job_total_count":%d,"job_count_limit":999,"jobs":[`, jobs)
		for i := (page-1)*per + 1; i <= min(page*per, jobs); i++ {
			id := i
			if q.Get("order") == "desc" {
				id = jobs + 1 - i
			}
			if i > (page-1)*per+1 {
				bw.WriteString(",")
			}
			fmt.Fprintf(bw, `{"job_id":%d,"job_name":"job-%d","status":7,"create_time":%d,"duration":1000,"job_desc":"%s"}`,
				id, id, 1565149736000+int64(id)*1000, desc)
		}
		bw.WriteString("]}")
		bw.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPeakMemoryWithLargeDescriptions syncs 600 jobs with 320 KB descriptions (pages of 32 MB) with
// the real binary at default settings (page concurrency 4, batches of 10 pages) and reads its peak
// RSS from the kernel (VmHWM): under 256 MiB. Measured 219 MiB; 458 MiB when pages ahead are bounded
// by count only. Rerun with: go test ./cmd/indexer -run PeakMemory -v
func TestPeakMemoryWithLargeDescriptions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and moves 200 MB through it")
	}
	t.Parallel()
	bin := buildIndexer(t)
	endpoint := bigDescServer(t, 600, 320_000)
	db := testdb.NewMigrated(t) // `migrate up` below finds nothing to do: the peak is the sync's
	env := append(os.Environ(),
		"INDEXER_DATABASE_URL="+db,
		"MODELARTS_ENDPOINT="+endpoint,
		"HUAWEICLOUD_SDK_PROJECT_ID="+simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK="+simulator.DefaultAK,
		"HUAWEICLOUD_SDK_SK="+simulator.DefaultSK,
		"INDEXER_SOURCE=big",
		"INDEXER_RATE_LIMIT=0",
		"INDEXER_LOG_FORMAT=json",
	)
	// The peak is read from /proc/PID/status (VmHWM, the high-water mark of the process's own memory
	// after exec) while it runs: rusage's Maxrss of a child also counts the parent's memory at fork time
	// (the mm the child shared until exec), which a busy test process makes large.
	run := func(args ...string) int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var hwm int64
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if b, err := os.ReadFile(status); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
						kib, _ := strconv.ParseInt(f[1], 10, 64)
						hwm = max(hwm, kib<<10)
					}
				}
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("indexer %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 3000))
				}
				if hwm == 0 { // no /proc: rusage, an upper bound
					hwm = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
				}
				return hwm
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	run("migrate", "up")
	peak := run("sync")
	t.Logf("peak RSS of indexer sync: %.0f MiB (budget 256 MiB)", float64(peak)/(1<<20))
	if peak >= 256<<20 {
		t.Errorf("peak RSS %.0f MiB, want under 256 MiB", float64(peak)/(1<<20))
	}
	var jobs int
	c, err := pgx.Connect(context.Background(), db)
	must(t, err)
	defer c.Close(context.Background())
	must(t, c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_jobs WHERE length(job_desc) = 320000`).Scan(&jobs))
	if jobs != 600 {
		t.Errorf("%d jobs stored with their description, want 600", jobs)
	}
}
