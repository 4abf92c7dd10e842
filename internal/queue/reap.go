package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// MaintenanceKind is the River job kind of the fleet's upkeep (Options.Maintenance, the reaper).
const MaintenanceKind = "vizjob_maintenance"

// MaintenanceArgs are an upkeep job's arguments: which one.
type MaintenanceArgs struct {
	Name string `json:"name"`
}

// Kind is River's kind of the job.
func (MaintenanceArgs) Kind() string { return MaintenanceKind }

type maintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	jobs map[string]Maintenance
}

func (w *maintenanceWorker) Work(ctx context.Context, job *river.Job[MaintenanceArgs]) error {
	m, ok := w.jobs[job.Args.Name]
	if !ok { // enqueued by a leader of another version: not this replica's to run
		return river.JobCancel(fmt.Errorf("no maintenance job %q in this replica", job.Args.Name))
	}
	return m.Work(ctx)
}

// LeasedFunc returns the sources whose lease is held and unexpired (store.LeasedSources).
type LeasedFunc func(ctx context.Context) (map[string]bool, error)

// reaper hands the runs of a replica that died to the others within about one and a half
// leases, where River's rescuer, which cannot tell a dead worker from a long run, waits for
// RescueAfter: a run's job running for a lease while no run holds its source's lease is dead (a live
// run takes the lease in its first statement and renews it until it ends; a dead one's expires a
// lease after its last renewal, and the reaper runs every half lease). It goes back to available, to be run by
// whichever worker is free; if the run was in fact alive, the lease keeps the two apart.
type reaper struct {
	q     *Queue
	lease time.Duration
}

func (w *reaper) reap(ctx context.Context) error {
	if w.q.leased == nil {
		return nil
	}
	res, err := w.q.client.JobList(ctx, river.NewJobListParams().Kinds(SyncKind).Queues(Name).
		States(rivertype.JobStateRunning).First(10_000))
	if err != nil {
		return fmt.Errorf("reap: list running runs: %w", err)
	}
	horizon := time.Now().Add(-w.lease)
	var stale []*rivertype.JobRow
	for _, j := range res.Jobs {
		if j.AttemptedAt != nil && j.AttemptedAt.Before(horizon) {
			stale = append(stale, j)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	leased, err := w.q.leased(ctx)
	if err != nil {
		return fmt.Errorf("reap: read leases: %w", err)
	}
	now := time.Now().UTC()
	p := riverdriver.JobRescueManyParams{Schema: w.q.schema, StuckHorizon: horizon}
	for _, j := range stale {
		var a SyncArgs
		if json.Unmarshal(j.EncodedArgs, &a) != nil || leased[a.Source] {
			continue
		}
		e, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0),
			Error: "the worker stopped renewing the source's lease (its process died): run again by another worker"})
		state := rivertype.JobStateAvailable
		var finalized *time.Time
		if j.Attempt >= j.MaxAttempts {
			state, finalized = rivertype.JobStateDiscarded, &now
		}
		p.ID = append(p.ID, j.ID)
		p.Error = append(p.Error, e)
		p.FinalizedAt = append(p.FinalizedAt, finalized)
		p.ScheduledAt = append(p.ScheduledAt, now)
		p.State = append(p.State, string(state))
		w.q.log.Warn("a run's worker died: its job is run again by another worker",
			"source", a.Source, "kind", a.RunKind, "job_id", j.ID, "attempted_by", j.AttemptedBy, "state", state)
	}
	if len(p.ID) == 0 {
		return nil
	}
	if _, err := w.q.client.Driver().GetExecutor().JobRescueMany(ctx, &p); err != nil {
		return fmt.Errorf("reap: %w", err)
	}
	return nil
}
