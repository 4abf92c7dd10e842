package store

import (
	"slices"
	"testing"
	"time"
)

// knownOf makes the jobs a run knew from its start, for tests that read no database.
func knownOf(t *testing.T, cutoff time.Time, jobs ...knownJob) *knownJobs {
	t.Helper()
	k := newKnownJobs(len(jobs), cutoff)
	t.Cleanup(k.release)
	for _, j := range jobs {
		if err := k.add(j); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// What the run's memory says about the jobs it knew, walk by walk.
func TestKnownJobsSeenAndMissed(t *testing.T) {
	k := knownOf(t, t0, knownJob{id: 10}, knownJob{id: 20}, knownJob{id: 30},
		knownJob{id: 40, deleted: true, due: true}, // job 40 was marked deleted when read
		knownJob{id: 50})
	s := newSeenSet(k.n)
	t.Cleanup(s.release)
	s.seeKnown(1, 0)
	s.seeKnown(1, 1)
	s.seeKnown(1, 1) // twice in one walk counts once
	s.seeKnown(2, 0)
	s.seeKnown(2, 3) // job 40 listed again by walk 2
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"seen by walk 1", s.count(1), 2},
		{"seen by walk 2", s.count(2), 2},
		{"seen by walk 3", s.count(3), 0},
		{"seen by any walk", s.total(), 3},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	ids, walks := s.missed(k, 2)
	// 20: last listed by walk 1; 30 and 50: never; 40: deleted but listed by walk 2, so not missed.
	if want := []int64{20, 30, 50}; !slices.Equal(ids, want) || !slices.Equal(walks, []int32{1, 0, 0}) {
		t.Errorf("missed by walk 2: %v (last walks %v), want %v (1, 0, 0)", ids, walks, want)
	}
	if i := k.index(30); i != 2 || k.index(35) != -1 {
		t.Errorf("index(30) = %d, index(35) = %d; want 2 and -1", i, k.index(35))
	}
}

// The jobs the run did not know: counted once per walk however often listed (the count of the
// current walk: SeenCount asks no other), with the last walk that
// listed each, before and after the recent ones are merged, and beside the known ones.
func TestSeenSetOtherJobs(t *testing.T) {
	k := knownOf(t, t0, knownJob{id: 5}, knownJob{id: 7})
	s := newSeenSet(k.n)
	t.Cleanup(s.release)
	see := func(walk int, ids ...int64) {
		for _, id := range ids {
			s.see(walk, id, k.index(id))
		}
	}
	see(1, 100, 5, 300, 100, 200)
	if n := s.count(1); n != 4 {
		t.Errorf("seen by walk 1: %d, want 4 (100, 200, 300 and known 5)", n)
	}
	see(1, 400, 300) // after a merge
	if n := s.count(1); n != 5 {
		t.Errorf("seen by walk 1: %d, want 5", n)
	}
	see(2, 200, 7, 500, 200)
	// Enough ids for merges while the walk goes on.
	for id := int64(1000); id < 11_000; id++ {
		see(2, id)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"seen by walk 2", s.count(2), 3 + 10_000},
		{"seen by any walk", s.total(), 7 + 10_000},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		id   int64
		want int
	}{{100, 1}, {200, 2}, {300, 1}, {400, 1}, {500, 2}, {5, 1}, {7, 2}, {10_999, 2}, {600, 0}} {
		if got := s.lastWalk(c.id, k.index(c.id)); got != c.want {
			t.Errorf("last walk of %d: %d, want %d", c.id, got, c.want)
		}
	}
	ids, walks := s.missed(k, 2)
	if want := []int64{5, 100, 300, 400}; !slices.Equal(ids, want) || !slices.Equal(walks, []int32{1, 1, 1, 1}) {
		t.Errorf("missed by walk 2: %v (last walks %v), want %v (all 1)", ids, walks, want)
	}
	if got := s.others(); len(got) != 10_005 || !slices.IsSorted(got) {
		t.Errorf("%d other jobs listed (sorted: %v), want 10 005", len(got), slices.IsSorted(got))
	}
}
