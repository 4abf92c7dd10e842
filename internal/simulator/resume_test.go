package simulator

import (
	"bytes"
	"testing"
)

// A simulator resumed from the items a client received serves the same
// items again, and never reissues the id of a job deleted before.
func TestNewResumedServesTheSameJobs(t *testing.T) {
	orig := New(Options{Jobs: 300, Seed: 7})
	var items [][]byte
	for _, j := range orig.Jobs() {
		items = append(items, j.Raw)
	}
	maxID := orig.Jobs()[len(items)-1].ID + 1000 // a deleted job had this id
	got, err := NewResumed(Options{Seed: 7}, Resume{Items: items, MaxJobID: maxID})
	if err != nil {
		t.Fatal(err)
	}
	again := got.Jobs()
	if len(again) != len(items) {
		t.Fatalf("resumed %d jobs, want %d", len(again), len(items))
	}
	for i, j := range again {
		if !bytes.Equal(j.Raw, items[i]) {
			t.Fatalf("job %d served as\n%s\nwant\n%s", j.ID, j.Raw, items[i])
		}
	}
	if created := got.CreateJob(); created.ID <= maxID {
		t.Errorf("new job got id %d, not above the largest ever issued %d", created.ID, maxID)
	}
	if _, err := NewResumed(Options{}, Resume{Items: [][]byte{[]byte(`{"job_name":"x"}`)}}); err == nil {
		t.Error("an item without job_id was accepted")
	}
}
