package simulator

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
)

// Quota is the API gateway's request quota per credential (one AK, or one
// IAM user's tokens): a token bucket that refills at Rate requests per second
// and holds at most Burst. A ModelArts request that finds the bucket empty is
// answered 429 APIG.0308 with Retry-After: the whole seconds until the bucket
// holds a request again (at least 1), as the gateway answers. The zero value
// is no quota.
type Quota struct {
	Rate  float64 // requests per second per credential; 0: unlimited
	Burst int     // requests the bucket holds; default ceil(Rate), at least 1
}

// QuotaStats counts what the quota answered since New or SetQuota.
type QuotaStats struct {
	Admitted  int // ModelArts requests let through
	Throttled int // answered 429 by the quota
}

type quotaState struct {
	mu      sync.Mutex
	q       Quota
	buckets map[string]*bucket
	stats   QuotaStats
}

type bucket struct {
	tokens float64
	at     time.Time
}

func (q Quota) withDefaults() Quota {
	if q.Burst <= 0 {
		q.Burst = max(1, int(math.Ceil(q.Rate)))
	}
	return q
}

// SetQuota replaces the quota (buckets start full); a zero Quota removes it.
func (s *Simulator) SetQuota(q Quota) {
	qs := &s.quota
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.q = q.withDefaults()
	qs.buckets = make(map[string]*bucket)
	qs.stats = QuotaStats{}
}

// QuotaStats returns what the quota admitted and throttled.
func (s *Simulator) QuotaStats() QuotaStats {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	return s.quota.stats
}

// credential names the bucket a request draws from: its AK, or the IAM user
// for tokens (every token the simulator issues is the one user's).
func credential(r *http.Request) string {
	if ak, _, _, err := fetch.ParseAuthorization(r.Header.Get("Authorization")); err == nil {
		return "ak:" + ak
	}
	return "user"
}

// take draws one request from cred's bucket at now; when empty it returns
// how long until the bucket holds one again.
func (qs *quotaState) take(cred string, now time.Time) (time.Duration, bool) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.q.Rate <= 0 {
		return 0, true
	}
	b, ok := qs.buckets[cred]
	if !ok {
		b = &bucket{tokens: float64(qs.q.Burst), at: now}
		qs.buckets[cred] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(qs.q.Burst), b.tokens+elapsed.Seconds()*qs.q.Rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		qs.stats.Admitted++
		return 0, true
	}
	qs.stats.Throttled++
	return time.Duration((1 - b.tokens) / qs.q.Rate * float64(time.Second)), false
}

// withQuota wraps the API handler with the quota: ModelArts calls only (IAM
// has its own, undocumented, limits).
func (s *Simulator) withQuota(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		wait, ok := s.quota.take(credential(r), s.opts.Now())
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := max(1, int64(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		apigError(w, http.StatusTooManyRequests, "APIG.0308", "The throttling threshold has been reached: policy user over ratelimit, limit:"+
			strconv.FormatFloat(s.quota.q.Rate, 'f', -1, 64)+", time:1 second")
	})
}
