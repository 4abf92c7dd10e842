package simulator

// The simulator's own control endpoints, not part of the ModelArts API: /_sim/churn, /_sim/state,
// /_sim/mutate and /_sim/faults, for a person or a test to steer a running simulator.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// mutateAdmin is POST /_sim/mutate?share=F&seed=S: Mutate, answering the
// counts of what changed.
func (s *Simulator) mutateAdmin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	share, err := strconv.ParseFloat(q.Get("share"), 64)
	if err != nil || !(share >= 0 && share <= 1) {
		modelArtsError(w, http.StatusBadRequest, "ModelArts.0104", fmt.Sprintf("Invalid parameter share: %q is not a number from 0 to 1", q.Get("share")))
		return
	}
	var seed int64
	if v := q.Get("seed"); v != "" {
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			modelArtsError(w, http.StatusBadRequest, "ModelArts.0104", fmt.Sprintf("Invalid parameter seed: %q is not an integer", v))
			return
		}
	}
	st := s.Mutate(share, seed)
	s.log.Info("simulator jobs mutated", "share", share, "seed", seed, "status_changed", st.StatusChanged, "duration_grown", st.DurationGrown)
	b, _ := json.Marshal(st)
	writeJSON(w, http.StatusOK, b)
}

// churnAdmin is POST /_sim/churn?rate=R: it sets the churn rate of a running
// simulator (e.g. 0 to stop churn and let a last sync converge).
func (s *Simulator) churnAdmin(w http.ResponseWriter, r *http.Request) {
	rate, err := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
	if err != nil || rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		modelArtsError(w, http.StatusBadRequest, "ModelArts.0104", fmt.Sprintf("Invalid parameter rate: %q is not a number of at least 0", r.URL.Query().Get("rate")))
		return
	}
	s.SetChurn(rate)
	s.log.Info("simulator churn set", "rate", rate)
	s.stateAdmin(w, r)
}

// stateAdmin is GET /_sim/state: the churn rate and counters and the ids of
// every current job, so that a mirror can be compared with the truth; with
// full=1, every job as the list call serves it too.
func (s *Simulator) stateAdmin(w http.ResponseWriter, r *http.Request) {
	full := r.URL.Query().Get("full") == "1"
	s.mu.Lock()
	st := struct {
		Churn      float64           `json:"churn"`
		ChurnStats ChurnStats        `json:"churn_stats"`
		Jobs       int               `json:"jobs"`
		JobIDs     []int64           `json:"job_ids"`
		Items      []json.RawMessage `json:"items,omitempty"`
	}{Churn: s.churn.rate, ChurnStats: s.churn.stats, Jobs: len(s.jobs), JobIDs: make([]int64, len(s.jobs))}
	for i, j := range s.jobs {
		st.JobIDs[i] = j.ID
		if full {
			st.Items = append(st.Items, j.appendJSON(nil))
		}
	}
	s.mu.Unlock()
	b, _ := json.Marshal(st)
	writeJSON(w, http.StatusOK, b)
}

// registerAdmin adds the admin endpoints to mux.
func (s *Simulator) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/churn", s.churnAdmin)
	mux.HandleFunc("GET /_sim/state", s.stateAdmin)
	mux.HandleFunc("POST /_sim/mutate", s.mutateAdmin)
	mux.HandleFunc("POST /_sim/faults", s.faultsAdmin)
}

// faultsAdmin is POST /_sim/faults?spec=SPEC (the simulator's own endpoint, not
// the API's): it replaces the faults of a running simulator, as ParseFaults
// reads SPEC; an empty spec switches them off.
func (s *Simulator) faultsAdmin(w http.ResponseWriter, r *http.Request) {
	spec := r.URL.Query().Get("spec")
	f, err := ParseFaults(spec)
	if err == nil {
		err = s.SetFaults(f)
	}
	if err != nil {
		modelArtsError(w, http.StatusBadRequest, "ModelArts.0104", err.Error())
		return
	}
	s.log.Info("simulator faults changed", "spec", spec)
	b, _ := encode(struct {
		Spec   string `json:"spec"`
		Active bool   `json:"active"`
	}{spec, f.Active()})
	writeJSON(w, http.StatusOK, b)
}
