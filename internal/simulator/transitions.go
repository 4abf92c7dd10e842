package simulator

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Transition records when a job's status really changed in the simulator (by Options.Now), so that
// the lag between a change and the history version a sync opened for it can be measured.
type Transition struct {
	JobID    int64
	From, To int // From is -1 for a job created
	At       time.Time
}

// maxTransitions bounds the log: a long-running demo with churn does not grow without bound.
const maxTransitions = 200_000

// noteStatusLocked records a status change. Callers hold s.mu.
func (s *Simulator) noteStatusLocked(id int64, from, to int) {
	if from == to {
		return
	}
	if len(s.transitions) >= maxTransitions {
		s.transitions = slices.Delete(s.transitions, 0, len(s.transitions)-maxTransitions+1)
	}
	s.transitions = append(s.transitions, Transition{JobID: id, From: from, To: to, At: s.opts.Now()})
}

// Transitions returns the status changes recorded since New or the last ResetTransitions, oldest
// first (at most the last 200 000).
func (s *Simulator) Transitions() []Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.transitions)
}

// ResetTransitions empties the log of status changes.
func (s *Simulator) ResetTransitions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transitions = nil
}

// lifecycle is where a job in each status may go next, as the documented statuses follow one
// another (MODELARTS_API.md, Status codes): created, image or pre-run check, submitted, queued,
// running (possibly scaling, or being stopped), then one final status. A final status (completed,
// failed, killed, canceled, lost, and every *_FAILED) has no next one: no finished job runs again.
// Undocumented codes stay as they are. Weights make the usual path the likely one.
var lifecycle = map[int][]struct{ to, weight int }{
	0:  {{8, 6}, {14, 1}},                             // UNKNOWN: the platform finds it running, or lost
	1:  {{2, 3}, {18, 3}, {4, 4}},                     // INIT
	2:  {{4, 9}, {3, 1}},                              // IMAGE_CREATING
	4:  {{7, 9}, {5, 1}},                              // SUBMIT_TRYING
	7:  {{8, 17}, {13, 2}, {22, 1}},                   // WAITING
	8:  {{10, 12}, {11, 3}, {9, 3}, {15, 1}, {14, 1}}, // RUNNING
	9:  {{12, 1}},                                     // KILLING
	15: {{8, 1}},                                      // SCALING
	18: {{19, 1}},                                     // CHECK_INIT
	19: {{20, 9}, {21, 1}},                            // CHECK_RUNNING
	20: {{4, 1}},                                      // CHECK_RUNNING_COMPLETED
}

// nextStatus draws the status a job in status from moves to; ok is false when it moves no more
// (a final status, or an undocumented code).
func nextStatus(rng *rand.Rand, from int) (to int, ok bool) {
	next := lifecycle[from]
	if len(next) == 0 {
		return from, false
	}
	total := 0
	for _, n := range next {
		total += n.weight
	}
	k := rng.IntN(total)
	for _, n := range next {
		if k < n.weight {
			return n.to, true
		}
		k -= n.weight
	}
	return next[len(next)-1].to, true
}

// final reports whether a documented status is final: the job has ended and never changes status
// again (modelarts.job_statuses.is_final).
func final(status int) bool {
	switch status {
	case 3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 21, 22:
		return true
	}
	return false
}
