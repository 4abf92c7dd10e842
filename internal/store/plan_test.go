package store

import (
	"encoding/binary"
	"testing"
	"time"
)

// The plan of a page, job by job, from what the run knew at its start and nothing else.
func TestPlanPage(t *testing.T) {
	t.Parallel()
	cutoff := t0 // the refresh cutoff of the run's first page
	sumOf := func(n uint64) []byte {
		b := make([]byte, 32)
		binary.BigEndian.PutUint64(b, n)
		return b
	}
	for _, c := range []struct {
		name    string
		known   *knownJob // nil: the run did not know the job
		first   bool      // a first sync
		sum     uint64    // the fingerprint's first 8 bytes as listed
		later   time.Duration
		want    verdict
		wantPos bool // known: its position is given
	}{
		{name: "unchanged and fresh", known: &knownJob{sum: sumOf(1)[:8]}, sum: 1, want: skip, wantPos: true},
		{name: "changed", known: &knownJob{sum: sumOf(1)[:8]}, sum: 2, want: write, wantPos: true},
		{name: "deleted", known: &knownJob{sum: sumOf(1)[:8], deleted: true, due: true}, sum: 1, want: write, wantPos: true},
		{name: "due for a refresh", known: &knownJob{sum: sumOf(1)[:8], due: true}, sum: 1, want: write, wantPos: true},
		{name: "no fingerprint stored", known: &knownJob{}, sum: 1, want: write, wantPos: true},
		{name: "near the refresh cutoff", known: &knownJob{sum: sumOf(1)[:8], near: true}, sum: 1, want: ask, wantPos: true},
		{name: "changed near the cutoff", known: &knownJob{sum: sumOf(1)[:8], near: true}, sum: 2, want: write, wantPos: true},
		{name: "page past the horizon", known: &knownJob{sum: sumOf(1)[:8]}, sum: 1, later: refreshHorizon + time.Second, want: ask, wantPos: true},
		{name: "page within the horizon", known: &knownJob{sum: sumOf(1)[:8]}, sum: 1, later: refreshHorizon, want: skip, wantPos: true},
		{name: "not known", sum: 1, want: ask},
		{name: "first sync", first: true, sum: 1, want: write},
	} {
		t.Run(c.name, func(t *testing.T) {
			var k *knownJobs
			if c.known != nil {
				j := *c.known
				j.id = 42
				k = knownOf(t, cutoff, knownJob{id: 7}, j, knownJob{id: 99})
			} else if !c.first {
				k = knownOf(t, cutoff, knownJob{id: 7})
			}
			p := planPage(k, c.first, []Job{{JobID: 42}}, [][]byte{sumOf(c.sum)}, cutoff.Add(c.later))
			if p.verdicts[0] != c.want {
				t.Errorf("verdict %v, want %v", p.verdicts[0], c.want)
			}
			if wantPos := map[bool]int{true: 1, false: -1}[c.wantPos]; p.known[0] != wantPos {
				t.Errorf("position among known jobs %d, want %d", p.known[0], wantPos)
			}
		})
	}
}

// A page's positions by verdict, in page order.
func TestPlanPositions(t *testing.T) {
	t.Parallel()
	p := pagePlan{verdicts: []verdict{write, skip, ask, write, ask}}
	for v, want := range map[verdict][]int{write: {0, 3}, skip: {1}, ask: {2, 4}} {
		if got := p.with(v); len(got) != len(want) || (len(got) > 0 && (got[0] != want[0] || got[len(got)-1] != want[len(want)-1])) {
			t.Errorf("with(%v) = %v, want %v", v, got, want)
		}
	}
}
