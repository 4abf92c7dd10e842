package syncer

import (
	"errors"
	"strings"
	"testing"
)

// TestMassGuard: the guard refuses a share of the live jobs above MaxShare when it is also above
// MaxMin jobs, projects the confirmed share of the candidates checked onto the whole queue, and lets
// Allow lift it.
func TestMassGuard(t *testing.T) {
	g := massGuard{MaxShare: 0.5, MaxMin: 10}
	for _, tt := range []struct {
		name                       string
		guard                      massGuard
		gone, checked, total, live int64
		refuse                     bool
		projected                  int64
	}{
		{"a few of many", g, 3, 3, 3, 100, false, 3},
		{"half exactly", g, 50, 50, 50, 100, false, 50},
		{"more than half", g, 51, 51, 51, 100, true, 51},
		{"more than half but at most MaxMin", g, 10, 10, 10, 12, false, 10},
		{"one above MaxMin and above the share", g, 11, 11, 11, 12, true, 11},
		{"projected from a sample", g, 10, 20, 120, 100, true, 60},
		{"projected, still within", g, 5, 20, 120, 200, false, 30},
		{"every candidate checked: no projection", g, 10, 120, 120, 200, false, 10},
		{"nothing checked: the confirmed as they are", g, 12, 0, 120, 200, false, 12},
		{"lifted for the run", massGuard{MaxShare: 0.5, MaxMin: 10, Allow: true}, 90, 90, 90, 100, false, 90},
		{"any share (0) refuses above MaxMin", massGuard{MaxMin: 10}, 11, 11, 11, 1000, true, 11},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.guard.check(tt.gone, tt.checked, tt.total, tt.live)
			if (err != nil) != tt.refuse {
				t.Fatalf("check(%d, %d, %d, %d) = %v, want refused %v", tt.gone, tt.checked, tt.total, tt.live, err, tt.refuse)
			}
			if err == nil {
				return
			}
			err.Setting = "indexer sync --allow-mass-delete"
			if err.Projected != tt.projected || err.Live != tt.live || !errors.Is(err, ErrMassDelete) ||
				!strings.HasSuffix(err.Error(), "run once with indexer sync --allow-mass-delete") {
				t.Errorf("error %+v: %v; want %d projected", err, err, tt.projected)
			}
		})
	}
}
