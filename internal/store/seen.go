package store

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sort"
)

// seenSet is the run's memory of what its walks listed: every job, with the last walk that listed
// it. A job counts as seen by a walk only if that walk upserted it, so a re-walk that is verified
// complete decides on its own (SeenCount), the deletion candidates are the live jobs the last walk
// did not list (RefreshCandidates), and MarkDeleted leaves alone the jobs the current walk listed.
//
// It lives in the run's memory only: no table is written to remember it, so a page in which nothing
// changed touches no table at all. Jobs the run knew from its start (known.go) are bits by their
// position, one bitset per walk (a bit a job and walk); the others (new to the source, or every job
// of a first sync) are ids kept sorted with their last walk, outside the Go heap (12 bytes a job: 12
// MB for a first sync of a million jobs, in segments, so that growing copies nothing), those listed
// since the last merge appended on the heap (8 bytes, at most a quarter of the sorted ones) and
// merged in place when they outgrow that or before anything reads the set.
type seenSet struct {
	known   int      // how many jobs the run knew from its start
	byWalk  []bitset // byWalk[w-1]: positions of known jobs listed by walk w
	counted []int64  // counted[w-1]: bits set in byWalk[w-1]

	sorted     seenTable // other jobs listed, sorted by id, distinct, with their last walk
	recent     []int64   // other jobs listed by walk recentWalk since the last merge: unsorted, may repeat
	recentWalk int
}

// newSeenSet remembers what the walks of a run that knew known jobs list.
func newSeenSet(known int) *seenSet { return &seenSet{known: known} }

// seeKnown notes that walk listed the known job at position i.
func (s *seenSet) seeKnown(walk, i int) {
	for len(s.byWalk) < walk {
		s.byWalk = append(s.byWalk, newBitset(s.known))
		s.counted = append(s.counted, 0)
	}
	if !s.byWalk[walk-1].has(i) {
		s.byWalk[walk-1].put(i, true)
		s.counted[walk-1]++
	}
}

// see notes that walk listed the job id, at position i among the known jobs (-1: not known).
func (s *seenSet) see(walk int, id int64, i int) {
	if i >= 0 {
		s.seeKnown(walk, i)
		return
	}
	if walk != s.recentWalk {
		s.merge()
		s.recentWalk = walk
	}
	s.recent = append(s.recent, id)
	if len(s.recent) >= max(4096, s.sorted.n/4) {
		s.merge()
	}
}

// merge moves the recently listed ids into the sorted ones, in place, from the end. Walks only grow:
// an id listed again has recentWalk as its last walk.
func (s *seenSet) merge() {
	if len(s.recent) == 0 {
		return
	}
	slices.Sort(s.recent)
	recent := slices.Compact(s.recent)
	t := &s.sorted
	n, dups := t.n, 0
	for i, j := 0, 0; i < n && j < len(recent); {
		switch id := t.id(i); {
		case id < recent[j]:
			i++
		case id > recent[j]:
			j++
		default:
			dups++
			i, j = i+1, j+1
		}
	}
	t.grow(n + len(recent) - dups)
	// From the end: the slot written is never before the sorted entry read next.
	w, i := t.n-1, n-1
	for j := len(recent) - 1; j >= 0; w-- {
		switch {
		case i >= 0 && t.id(i) > recent[j]:
			t.set(w, t.id(i), t.walk(i))
			i--
		case i >= 0 && t.id(i) == recent[j]:
			t.set(w, recent[j], int32(s.recentWalk))
			i, j = i-1, j-1
		default:
			t.set(w, recent[j], int32(s.recentWalk))
			j--
		}
	}
	s.recent = s.recent[:0]
}

// lastWalk is the last walk that listed the job id, at position i among the known jobs (-1: not
// known); 0 if none did.
func (s *seenSet) lastWalk(id int64, i int) int {
	if i >= 0 {
		for w := len(s.byWalk); w >= 1; w-- {
			if s.byWalk[w-1].has(i) {
				return w
			}
		}
		return 0
	}
	s.merge()
	t := &s.sorted
	if k := sort.Search(t.n, func(k int) bool { return t.id(k) >= id }); k < t.n && t.id(k) == id {
		return int(t.walk(k))
	}
	return 0
}

// count is how many distinct jobs walk listed.
func (s *seenSet) count(walk int) int64 {
	var n int64
	if walk >= 1 && walk <= len(s.counted) {
		n = s.counted[walk-1]
	}
	s.merge()
	for k := range s.sorted.n {
		if int(s.sorted.walk(k)) == walk {
			n++
		}
	}
	return n
}

// total is how many distinct jobs any walk listed.
func (s *seenSet) total() int64 {
	s.merge()
	n := int64(s.sorted.n)
	if len(s.byWalk) == 1 {
		return n + s.counted[0]
	}
	for w := range (s.known + 63) / 64 {
		var word uint64
		for _, b := range s.byWalk {
			word |= b[w]
		}
		n += int64(bits.OnesCount64(word))
	}
	return n
}

// missed returns the jobs listed by an earlier walk but not by walk, and the known jobs (k) no walk
// listed that may be live (not deleted when read), with the last walk that listed each (0: none).
func (s *seenSet) missed(k *knownJobs, walk int) (ids []int64, walks []int32) {
	ids, walks = []int64{}, []int32{}
	for i := range s.known {
		last := s.lastWalk(0, i)
		if last >= walk || (last == 0 && k.deleted.has(i)) {
			continue
		}
		ids, walks = append(ids, k.id(i)), append(walks, int32(last))
	}
	s.merge()
	for k := range s.sorted.n {
		if w := s.sorted.walk(k); int(w) < walk {
			ids, walks = append(ids, s.sorted.id(k)), append(walks, w)
		}
	}
	return ids, walks
}

// others returns the ids of the jobs listed that the run did not know, sorted.
func (s *seenSet) others() []int64 {
	s.merge()
	ids := make([]int64, s.sorted.n)
	for k := range ids {
		ids[k] = s.sorted.id(k)
	}
	return ids
}

// release gives the memory outside the Go heap back; s is empty after.
func (s *seenSet) release() {
	s.sorted.release()
	*s = seenSet{}
}

// seenTable is n entries of a job id and a walk, 12 bytes each, in segments of segmentEntries
// outside the Go heap (allocTable): growing adds segments and copies nothing.
type seenTable struct {
	segments [][]byte
	frees    []func()
	n        int
}

const segmentEntries = 1 << 16 // 768 KiB a segment

func (t *seenTable) entry(k int) []byte {
	return t.segments[k/segmentEntries][12*(k%segmentEntries):]
}

func (t *seenTable) id(k int) int64   { return int64(binary.LittleEndian.Uint64(t.entry(k))) }
func (t *seenTable) walk(k int) int32 { return int32(binary.LittleEndian.Uint32(t.entry(k)[8:])) }

func (t *seenTable) set(k int, id int64, walk int32) {
	e := t.entry(k)
	binary.LittleEndian.PutUint64(e, uint64(id))
	binary.LittleEndian.PutUint32(e[8:], uint32(walk))
}

// grow makes the table n entries long; the entries past the old length are to be set.
func (t *seenTable) grow(n int) {
	for len(t.segments)*segmentEntries < n {
		b, free := allocTable(12 * segmentEntries)
		t.segments, t.frees = append(t.segments, b), append(t.frees, free)
	}
	t.n = n
}

func (t *seenTable) release() {
	for _, free := range t.frees {
		free()
	}
	*t = seenTable{}
}
