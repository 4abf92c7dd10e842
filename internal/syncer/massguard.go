package syncer

import "fmt"

// massGuard is the mass-deletion guard: a run refuses to mark deleted more than MaxShare of the live
// jobs when that is also more than MaxMin jobs, unless Allow lifts it for the run.
type massGuard struct {
	MaxShare float64 // 0: any share above MaxMin is refused
	MaxMin   int
	Allow    bool
}

// check judges gone confirmed deletions out of checked candidates checked, of a queue of total, with
// live jobs in the mirror. When only some candidates were checked, their share of confirmed
// deletions is projected onto the whole queue. It returns a *MassDeleteError when it refuses.
func (g massGuard) check(gone, checked, total, live int64) *MassDeleteError {
	projected := gone
	if checked > 0 && checked < total {
		projected = gone * total / checked
	}
	if g.Allow || projected <= int64(g.MaxMin) || float64(projected) <= g.MaxShare*float64(live) {
		return nil
	}
	return &MassDeleteError{Projected: projected, Live: live, Gone: gone, Checked: checked, MaxShare: g.MaxShare}
}

// MassDeleteError is a run refusing to mark too many jobs deleted; it matches ErrMassDelete. Its text
// ends on what to do: Setting, from Options.AllowMassDeleteSetting.
type MassDeleteError struct {
	Projected, Live int64 // jobs that would be marked deleted (projected onto the queue), of the live ones
	Gone, Checked   int64 // candidates the service confirmed gone, of those checked
	MaxShare        float64
	Setting         string // what lifts the guard for one run, as the user would type it
}

func (e *MassDeleteError) Error() string {
	return fmt.Sprintf("%v: %d of %d live jobs (%.0f%%) would be marked deleted (the service confirmed %d of the %d candidates checked gone), "+
		"more than the %.0f%% allowed; nothing was marked deleted. If they really are gone, run once with %s",
		ErrMassDelete, e.Projected, e.Live, 100*float64(e.Projected)/float64(e.Live), e.Gone, e.Checked, 100*e.MaxShare, e.Setting)
}

// Unwrap makes errors.Is(err, ErrMassDelete) true.
func (e *MassDeleteError) Unwrap() error { return ErrMassDelete }
