package statuspage

import (
	"fmt"
	"strings"
	"time"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/textcap"
)

// Freshness thresholds of the sources table: how old what the mirror shows is (the last run that
// listed every page, proven complete or not: a busy source whose full runs all end partial is not
// stale for being busy) is shown amber after staleAfter and red after lateAfter (or when no run ever
// listed every page).
const (
	staleAfter = time.Hour
	lateAfter  = 24 * time.Hour
)

// maxErrorRunes bounds an error shown on the page; the full text is in modelarts.sync_runs.
// maxNameRunes bounds a job name (the API's, of any length; the store reads at most
// store.MaxShownName characters of it).
const (
	maxErrorRunes = 600
	maxNameRunes  = 120
)

// page is what the template renders.
type page struct {
	Generated     string
	GeneratedISO  string
	Live          int64
	Deleted       int64
	Running       int64
	Sources       []sourceRow
	ByStatus      chart
	CreatedPerDay chart
	Durations     chart
	Days          int
	Runs          []runRow
	Changes       []changeRow
	HasQueue      bool       // River's tables exist
	Queue         []queueRow // the job queue, by kind and state
	Leases        []leaseRow // sources being synced now
}

type queueRow struct {
	Kind, State string
	Jobs        int64
	Oldest      stamp // the earliest tick among them
}

type leaseRow struct {
	Source  string
	RunID   int64
	Holder  string // host/pid
	Since   stamp
	Expired bool // its holder stopped renewing it
}

type changeRow struct {
	At       stamp
	Source   string
	JobID    int64
	JobName  string
	Deleted  bool
	From, To statusLabel
}

type statusLabel struct {
	Name  string // without the JOBSTAT_ prefix
	Full  string
	Group string
}

func labelOf(s store.StatusCount) statusLabel {
	return statusLabel{Name: strings.TrimPrefix(s.Name, "JOBSTAT_"), Full: fmt.Sprintf("%s (%d)", s.Name, s.Status), Group: s.Group}
}

type sourceRow struct {
	Pending      int64 // deletion candidates waiting for the service's word
	PendingFor   stamp // since when the oldest waits
	Name         string
	State        string // class of the badge: succeeded, partial, failed, running
	LastRun      stamp
	LastSuccess  stamp
	Freshness    string // class: fresh, stale, late
	Runs24h      int64
	Failed24h    int64
	Live         int64
	Running      int64
	LastError    string
	LastErrorAt  stamp
	LastRunError bool   // the last error is the last run's
	EarlierError string // an error of a run before the last success (shown muted)
	Partial      stamp  // when the last run, partial, ended after the last success, where the ledger does not say whether it listed every page; zero otherwise
	Listed       stamp  // when the last run that listed every page ended, if after the last success; zero otherwise
	HeadWalk     stamp  // when the last head walk that did not fail ended
	PartialNote  bool   // LastError is the last run's, which was partial: why, not a failure
}

type runRow struct {
	Kind     string // full or head
	ID       int64
	Source   string
	State    string
	Started  stamp
	Took     string
	Seen     int64
	Inserted int64
	Updated  int64
	Deleted  int64
	Error    string // why a run failed
	Note     string // why a run was partial: it upserted what it saw (no error; normal under churn)
}

// stamp is a time shown as "5m ago", with the exact UTC time as a tooltip.
type stamp struct {
	Ago   string // empty for the zero time
	Exact string
	ISO   string
}

func build(rep store.StatusReport) page {
	now := rep.Now
	p := page{
		Generated:    now.Format("2006-01-02 15:04:05 UTC"),
		GeneratedISO: now.Format(time.RFC3339),
		Live:         rep.LiveJobs,
		Deleted:      rep.DeletedJobs,
		Days:         len(rep.CreatedPerDay),
	}
	for _, s := range rep.Sources {
		p.Running += s.RunningJobs
		row := sourceRow{
			Name:        s.Source,
			State:       s.LastRunState,
			LastRun:     stampOf(now, s.LastRunStartedAt),
			LastSuccess: stampOf(now, s.LastSuccessAt),
			Runs24h:     s.Runs24h,
			Failed24h:   s.FailedRuns24h,
			Live:        s.LiveJobs,
			Running:     s.RunningJobs,
			Pending:     s.PendingDeletions,
			PendingFor:  stampOf(now, s.PendingSince),
			LastError:   clip(s.LastError, maxErrorRunes),
			LastErrorAt: stampOf(now, s.LastErrorAt),
		}
		row.LastRunError = s.LastRunError != "" && s.LastRunError == s.LastError
		row.PartialNote = row.LastRunError && s.LastRunState == store.StatePartial
		if row.PartialNote {
			row.LastError = partialReason(row.LastError)
		}
		if s.LastRunState == store.StateSucceeded && !s.LastErrorAt.After(s.LastSuccessAt) {
			// An older run's error (an abandoned run, say) is not the source's current error.
			row.EarlierError, row.LastError = row.LastError, ""
		}
		row.HeadWalk = stampOf(now, s.LastHeadWalkAt)
		// A run that listed every page upserted every job it saw: what the mirror shows is that old,
		// proven complete or not. A succeeded run listed every page too.
		seen := s.LastSuccessAt
		if s.LastListedAt.After(seen) {
			seen = s.LastListedAt
			row.Listed = stampOf(now, s.LastListedAt)
		}
		// Runs recorded before the ledger said whether they listed every page: a partial run upserted
		// what it saw, current but possibly incomplete (amber).
		partial := s.LastListedAt.IsZero() && s.LastRunState == store.StatePartial && s.LastRunFinishedAt.After(seen)
		if partial {
			seen = s.LastRunFinishedAt
			row.Partial = stampOf(now, s.LastRunFinishedAt)
		}
		switch age := now.Sub(seen); {
		case seen.IsZero() || age > lateAfter:
			row.Freshness = "late"
		case age > staleAfter || partial:
			row.Freshness = "stale"
		default:
			row.Freshness = "fresh"
		}
		p.Sources = append(p.Sources, row)
	}
	for _, r := range rep.RecentRuns {
		row := runRow{
			ID: r.ID, Source: r.Source, State: r.State, Started: stampOf(now, r.StartedAt),
			Seen: r.JobsSeen, Inserted: r.Inserted, Updated: r.Updated, Deleted: r.Deleted, Kind: r.Kind,
			Error: clip(r.Error, maxErrorRunes),
		}
		if r.State == store.StatePartial {
			row.Note, row.Error = partialReason(row.Error), ""
		}
		if r.FinishedAt.IsZero() {
			row.Took = "running for " + human(now.Sub(r.StartedAt))
			if r.APITotalCount > 0 {
				row.Took += fmt.Sprintf(", %d of %d jobs listed (page %d)", min(r.JobsSeen, r.APITotalCount), r.APITotalCount, r.Pages)
			} else if r.Pages > 0 {
				row.Took += fmt.Sprintf(", page %d", r.Pages)
			}
		} else {
			row.Took = human(r.FinishedAt.Sub(r.StartedAt))
		}
		p.Runs = append(p.Runs, row)
	}
	for _, c := range rep.StatusChanges {
		p.Changes = append(p.Changes, changeRow{
			At: stampOf(now, c.At), Source: c.Source, JobID: c.JobID, JobName: clip(c.JobName, maxNameRunes), Deleted: c.IsDeleted,
			From: labelOf(c.From), To: labelOf(c.To),
		})
	}
	p.HasQueue = rep.Queue != nil
	for _, q := range rep.Queue {
		p.Queue = append(p.Queue, queueRow{Kind: q.Kind, State: q.State, Jobs: q.Jobs, Oldest: stampOf(now, q.Oldest)})
	}
	for _, l := range rep.Leases {
		p.Leases = append(p.Leases, leaseRow{Source: l.Source, RunID: l.RunID, Holder: fmt.Sprintf("%s/%d", l.Host, l.PID),
			Since: stampOf(now, l.AcquiredAt), Expired: !l.ExpiresAt.After(now)})
	}
	p.ByStatus = statusChart(rep.ByStatus)
	p.CreatedPerDay = createdChart(rep.CreatedPerDay)
	p.Durations = durationChart(rep.Durations)
	return p
}

// partialReason is a partial run's error as the page shows it: why the run could not prove its walk
// complete or settle every deletion, without the "sync partial:" prefix of the ledger.
func partialReason(err string) string {
	return strings.TrimSpace(strings.TrimPrefix(err, "sync partial:"))
}

func stampOf(now, t time.Time) stamp {
	if t.IsZero() {
		return stamp{}
	}
	ago := human(now.Sub(t)) + " ago"
	if d := now.Sub(t); d < time.Second && d > -time.Second {
		ago = "just now"
	}
	return stamp{Ago: ago, Exact: t.Format("2006-01-02 15:04:05 UTC"), ISO: t.Format(time.RFC3339)}
}

// human prints a duration with its two largest units: 45s, 12m 5s, 3h 4m, 2d 3h.
func human(d time.Duration) string {
	if d < 0 {
		return "-" + human(-d)
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
	}
}

// clip returns s cut after max characters (marked " …"), reading no further, with control and
// Unicode format characters (a right-to-left override, a line separator) escaped (textcap.Clean).
func clip(s string, max int) string {
	n := 0
	for i := range s {
		if n == max {
			return textcap.Clean(s[:i], 0) + " …"
		}
		n++
	}
	return textcap.Clean(s, 0)
}

// durationLabel names a bucket of the run time histogram: <1m, 1m–10m, ..., ≥7d.
func durationLabel(b store.DurationBucket) string {
	switch {
	case b.Min == 0:
		return "<" + short(b.Max)
	case b.Max == 0:
		return "≥" + short(b.Min)
	default:
		return short(b.Min) + "–" + short(b.Max)
	}
}

func short(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return strings.TrimSuffix(d.String(), "0s")
	}
}
