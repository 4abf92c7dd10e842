package simulator

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Churn: the list API has no snapshot, and people create, delete and stop
// jobs while a client walks its pages. With Options.Churn (or SetChurn) the
// simulator applies about that many random mutations after answering each
// list request, once the answer is computed and before it is sent, so the
// next page sees them. The mutations draw from a random source of their own,
// seeded from Options.Seed: the same seed and the same sequence of requests
// give the same mutations. OnList runs a test's own code at the same moment.

// ListCall describes a list request the simulator answered successfully.
type ListCall struct {
	Page, PerPage int
	SortKey       string
	Desc          bool
	Total         int // job_total_count answered
}

// ChurnStats counts the mutations churn applied since New.
type ChurnStats struct {
	Created       int `json:"created"`        // jobs created (newest create_time)
	Deleted       int `json:"deleted"`        // jobs deleted
	StatusChanged int `json:"status_changed"` // jobs moved to another status, their duration grown
	DurationGrown int `json:"duration_grown"` // jobs whose duration alone grew (a running job's progress)
}

// Total is the number of mutations.
func (c ChurnStats) Total() int { return c.Created + c.Deleted + c.StatusChanged + c.DurationGrown }

type churnState struct {
	rate   float64
	rng    *rand.Rand
	stats  ChurnStats
	onList func(ListCall)
}

func newChurn(opts Options) churnState {
	return churnState{
		rate: max(opts.Churn, 0),
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), 0xc4a7_0b5e_55ed_0002)),
	}
}

// SetChurn sets the mean number of random mutations applied after each list
// request (0 stops them). A negative or NaN rate counts as 0.
func (s *Simulator) SetChurn(rate float64) {
	if !(rate > 0) || math.IsInf(rate, 1) {
		rate = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.churn.rate = rate
}

// Churn returns the current churn rate.
func (s *Simulator) Churn() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.churn.rate
}

// ChurnStats returns the mutations applied by churn so far.
func (s *Simulator) ChurnStats() ChurnStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.churn.stats
}

// OnList sets fn (nil: none) to run after each successful list answer is
// computed and before it is sent, after the churn mutations: a test can
// change the jobs between two pages of a walk. fn runs without the
// simulator's lock, so it may call any method; concurrent list requests run
// it concurrently.
func (s *Simulator) OnList(fn func(ListCall)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.churn.onList = fn
}

// afterListLocked applies the churn mutations owed for one list answer and
// returns the hook to run once the lock is released. Callers hold s.mu.
func (s *Simulator) afterListLocked() func(ListCall) {
	c := &s.churn
	if c.rate > 0 {
		whole, frac := math.Modf(c.rate)
		n := int(whole)
		if c.rng.Float64() < frac {
			n++
		}
		for range n {
			s.mutateLocked(c.rng)
		}
	}
	return c.onList
}

// mutateLocked applies one random mutation: create a job, delete one, move a job that has not
// ended to its next status in the documented lifecycle (its duration grows while it runs), or grow
// the duration of a running job. Creations and deletions are equally likely, so the number of jobs
// drifts around where it started. A finished job never changes again: when the jobs drawn have all
// ended, the mutation creates a job instead. Callers hold s.mu.
func (s *Simulator) mutateLocked(rng *rand.Rand) {
	kind := rng.IntN(10)
	if len(s.jobs) == 0 {
		kind = 0
	}
	var j *JobState
	switch {
	case kind >= 6 && kind < 9:
		j = s.drawLocked(rng, func(j *JobState) bool { _, ok := lifecycle[j.Status]; return ok })
	case kind >= 9:
		j = s.drawLocked(rng, func(j *JobState) bool { return running(j.Status) })
	}
	if kind >= 6 && j == nil {
		kind = 0
	}
	switch {
	case kind < 3:
		s.createLocked(rng)
		s.churn.stats.Created++
	case kind < 6:
		s.deleteLocked(s.jobs[rng.IntN(len(s.jobs))].ID)
		s.churn.stats.Deleted++
	case kind < 9:
		status, _ := nextStatus(rng, j.Status)
		s.noteStatusLocked(j.ID, j.Status, status)
		if started(status) {
			j.Duration += 1000 + rng.Int64N(int64(time.Hour/time.Millisecond))
		}
		j.Status = status
		j.ServiceURL = serviceURL(s.opts.ProjectID, j.ID, status)
		clear(s.sorted)
		s.churn.stats.StatusChanged++
	default:
		j.Duration += 1000 + rng.Int64N(int64(10*time.Minute/time.Millisecond))
		clear(s.sorted)
		s.churn.stats.DurationGrown++
	}
}

// drawLocked returns a random job that ok accepts, drawing at most 64 times (nil when none was
// drawn): most jobs of a long history have ended, and scanning them all per mutation would cost
// more than the list request. Callers hold s.mu.
func (s *Simulator) drawLocked(rng *rand.Rand, ok func(*JobState) bool) *JobState {
	for range 64 {
		if j := s.jobs[rng.IntN(len(s.jobs))]; ok(j) {
			return j
		}
	}
	return nil
}

// running reports whether a job in this status is running, so that its duration grows.
func running(status int) bool { return status == 8 || status == 9 || status == 15 || status == 19 }

// createLocked adds a job as CreateJob does. Callers hold s.mu.
func (s *Simulator) createLocked(rng *rand.Rand) *JobState {
	id := s.maxID + 1 + rng.Int64N(5)
	j := buildJob(rng, id, s.newCreateTimeLocked(), 1, 0, s.opts.ProjectID)
	s.add(j)
	s.noteStatusLocked(j.ID, -1, j.Status)
	return j
}

// deleteLocked removes a job as DeleteJob does. Callers hold s.mu.
func (s *Simulator) deleteLocked(id int64) bool {
	if _, ok := s.byID[id]; !ok {
		return false
	}
	delete(s.byID, id)
	s.jobs = slices.DeleteFunc(s.jobs, func(j *JobState) bool { return j.ID == id })
	clear(s.sorted)
	return true
}

// JobState returns a copy of the state of a current job, e.g. to put it back
// with PutJob after deleting it.
func (s *Simulator) JobState(id int64) (JobState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.byID[id]
	if !ok {
		return JobState{}, false
	}
	return j.clone(), true
}

// PutJob adds j, or replaces the job of the same id, keeping its id and
// create_time: a test can make a deleted job come back. (The real service
// never reuses an id; a job put back in the middle of the create_time order
// during a walk breaks the assumption verified walks rest on.)
func (s *Simulator) PutJob(j JobState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := j.clone()
	i, found := slices.BinarySearchFunc(s.jobs, c.ID, func(e *JobState, id int64) int { return cmp.Compare(e.ID, id) })
	if found {
		s.jobs[i] = &c
	} else {
		s.jobs = slices.Insert(s.jobs, i, &c)
	}
	s.byID[c.ID] = &c
	s.maxID = max(s.maxID, c.ID)
	s.maxCreate = max(s.maxCreate, c.CreateTime)
	clear(s.sorted)
}

func (j *JobState) clone() JobState {
	c := *j
	if j.RemainingDuration != nil {
		v := *j.RemainingDuration
		c.RemainingDuration = &v
	}
	c.Extra = maps.Clone(j.Extra)
	return c
}

// Mutate changes round(share x jobs) distinct jobs at once, chosen by seed
// alone (the same jobs, share and seed always give the same changes): the
// first half, rounded up, move to another status (a tracked attribute: a new
// history version) and their duration grows; the others only grow their
// duration. It counts neither in ChurnStats nor as a list request. A share
// outside [0, 1] is clamped.
func (s *Simulator) Mutate(share float64, seed int64) ChurnStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int(math.Round(min(max(share, 0), 1) * float64(len(s.jobs))))
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d75_7461_7465_0003))
	var st ChurnStats
	for i, k := range rng.Perm(len(s.jobs))[:n] {
		j := s.jobs[k]
		if i < (n+1)/2 {
			status := pickStatus(rng)
			for status == j.Status {
				status = pickStatus(rng)
			}
			s.noteStatusLocked(j.ID, j.Status, status)
			j.Status = status
			j.ServiceURL = serviceURL(s.opts.ProjectID, j.ID, status)
			st.StatusChanged++
		} else {
			st.DurationGrown++
		}
		j.Duration += 1000 + rng.Int64N(int64(time.Hour/time.Millisecond))
	}
	if n > 0 {
		clear(s.sorted)
	}
	return st
}

// ---- admin endpoints (the simulator's own, not part of the ModelArts API) ----
