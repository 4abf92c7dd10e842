package simulator

import (
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
