package store

import (
	"math/bits"
	"slices"
)

// seenSet is the run's memory of what its walks listed: every job, with the last walk that listed
// it. A job counts as seen by a walk only if that walk upserted it, so a re-walk that is verified
// complete decides on its own (SeenCount), the deletion candidates are the live jobs the last walk
// did not list (RefreshCandidates), and MarkDeleted leaves alone the jobs the current walk listed.
//
// It lives in the run's memory only: no table is written to remember it, so a page in which nothing
// changed touches no table at all. Jobs the run knew from its start (known.go) are bits by their
// position, one bitset per walk (a bit a job and walk); the others (new to the source, or every job
// when the run read nothing at its start) are ids kept sorted with their last walk (12 bytes a job),
// those listed since the last merge appended (8 bytes) and merged in bulk, when they outnumber the
// sorted ones or before anything reads the set.
type seenSet struct {
	known   int      // how many jobs the run knew from its start
	byWalk  []bitset // byWalk[w-1]: positions of known jobs listed by walk w
	counted []int64  // counted[w-1]: bits set in byWalk[w-1]

	ids        []int64 // other jobs listed, sorted, distinct
	walks      []int32 // the last walk that listed ids[i]
	recent     []int64 // other jobs listed by walk recentWalk since the last merge: unsorted, may repeat
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
	if len(s.recent) >= max(4096, len(s.ids)) {
		s.merge()
	}
}

// merge moves the recently listed ids into the sorted ones. Walks only grow: an id listed again has
// recentWalk as its last walk.
func (s *seenSet) merge() {
	if len(s.recent) == 0 {
		return
	}
	slices.Sort(s.recent)
	recent := slices.Compact(s.recent)
	ids := make([]int64, 0, len(s.ids)+len(recent))
	walks := make([]int32, 0, cap(ids))
	i, j := 0, 0
	for i < len(s.ids) || j < len(recent) {
		switch {
		case j == len(recent) || (i < len(s.ids) && s.ids[i] < recent[j]):
			ids, walks = append(ids, s.ids[i]), append(walks, s.walks[i])
			i++
		default:
			if i < len(s.ids) && s.ids[i] == recent[j] {
				i++
			}
			ids, walks = append(ids, recent[j]), append(walks, int32(s.recentWalk))
			j++
		}
	}
	s.ids, s.walks, s.recent = ids, walks, s.recent[:0]
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
	if k, ok := slices.BinarySearch(s.ids, id); ok {
		return int(s.walks[k])
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
	for _, w := range s.walks {
		if int(w) == walk {
			n++
		}
	}
	return n
}

// total is how many distinct jobs any walk listed.
func (s *seenSet) total() int64 {
	s.merge()
	n := int64(len(s.ids))
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
	for i, w := range s.walks {
		if int(w) < walk {
			ids, walks = append(ids, s.ids[i]), append(walks, w)
		}
	}
	return ids, walks
}

// others returns the ids of the jobs listed that the run did not know, sorted.
func (s *seenSet) others() []int64 {
	s.merge()
	return s.ids
}
