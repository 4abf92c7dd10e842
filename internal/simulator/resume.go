package simulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
)

// Resume is the state a simulator starts from instead of generated jobs: the
// jobs as a client last received them (list items), and the largest id ever
// issued, so that new jobs never reuse the id of a deleted one. The demo
// resumes from its database on a restart, so that the history recorded
// there goes on instead of starting again from the seed.
type Resume struct {
	Items    [][]byte // list items (JSON objects with at least job_id)
	MaxJobID int64
}

// jobFromItem rebuilds the state of one job from a list item. Fields that are
// not documented are kept as Extra and served again.
func jobFromItem(item []byte) (*JobState, error) {
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(item))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("resume: item is not a JSON object: %w", err)
	}
	j := &JobState{}
	field := func(key string, v any) error {
		raw, ok := m[key]
		delete(m, key)
		if !ok || string(raw) == "null" {
			return nil
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("resume: %s: %w", key, err)
		}
		return nil
	}
	if _, ok := m["job_id"]; !ok {
		return nil, fmt.Errorf("resume: item without job_id")
	}
	for _, f := range []struct {
		key string
		v   any
	}{
		{"job_id", &j.ID}, {"job_name", &j.Name}, {"status", &j.Status}, {"create_time", &j.CreateTime},
		{"duration", &j.Duration}, {"job_desc", &j.Desc}, {"service_url", &j.ServiceURL},
		{"train_url", &j.TrainURL}, {"resource_id", &j.ResourceID},
	} {
		if err := field(f.key, f.v); err != nil {
			return nil, err
		}
	}
	if _, ok := m["remaining_duration"]; ok {
		j.HasRemainingDuration = true
		if err := field("remaining_duration", &j.RemainingDuration); err != nil {
			return nil, err
		}
	}
	for k, v := range m {
		j.setExtra(k, string(v))
	}
	return j, nil
}

// NewResumed builds a simulator holding the jobs of r instead of generated
// ones (opts.Jobs is ignored). It fails when an item cannot be read back.
func NewResumed(opts Options, r Resume) (*Simulator, error) {
	opts.Jobs = 0
	s := New(opts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.resume(&r); err != nil {
		return nil, err
	}
	return s, nil
}

// resume loads r into an empty simulator. Callers hold s.mu.
func (s *Simulator) resume(r *Resume) error {
	jobs := make([]*JobState, 0, len(r.Items))
	for _, it := range r.Items {
		j, err := jobFromItem(it)
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b *JobState) int { return cmp.Compare(a.ID, b.ID) })
	for i, j := range jobs {
		if i > 0 && j.ID == jobs[i-1].ID {
			return fmt.Errorf("resume: job_id %d twice", j.ID)
		}
		s.add(j)
	}
	s.maxID = max(s.maxID, r.MaxJobID)
	return nil
}
