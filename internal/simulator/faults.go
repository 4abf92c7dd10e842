package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults: what the real API's gateway does to a client on a bad day. With
// Options.Faults (or SetFaults) the simulator throttles, fails, cuts, slows,
// drops and mangles its answers, deterministically: request-level faults hit
// every Nth ModelArts request (list and detail calls, counted from 1 since
// the faults were set; IAM and /_sim requests are neither counted nor
// touched), item-level faults hit the items whose job_id is a multiple of
// BadItemEvery, on every list answer. SetFaults(Faults{}) switches every
// fault off, so a test can end with a quiet sync. FaultEvents records what
// was injected and when, so that a test can check how the client reacted.

// Kinds of malformed items (Faults.BadItems).
const (
	BadWrongType        = "wrong_type"        // status sent as a string: "8"
	BadIDType           = "id_type"           // job_id sent as a string: "10123"
	BadMissingID        = "missing_id"        // no job_id at all
	BadNegativeDuration = "negative_duration" // duration below zero
	BadHugeDesc         = "huge_desc"         // job_desc of 1 MiB (well-formed: a client should keep it)
	BadNotObject        = "not_object"        // the item wrapped in an array: [{...}]
)

var badKinds = []string{BadWrongType, BadIDType, BadMissingID, BadNegativeDuration, BadHugeDesc, BadNotObject}

// Kinds of request-level faults, as recorded in FaultEvent.Kind.
const (
	FaultNone             = ""
	FaultReset            = "reset"              // connection reset without an answer
	FaultThrottle         = "throttle"           // 429 APIG.0308 with Retry-After
	FaultServerError      = "server_error"       // 502, 503 or 504 with an HTML page
	FaultSlow             = "slow"               // answered after SlowDelay (if the client still waits)
	FaultHTMLPage         = "html_page"          // 200 with an HTML maintenance page
	FaultTruncate         = "truncate"           // body cut in half
	FaultWrongContentType = "wrong_content_type" // the JSON answer labelled text/html
)

// Faults configures the injected faults. The zero value injects none. An
// Every field N > 0 picks requests N, 2N, 3N, ...; when several pick the same
// request, the first in this order wins: Reset, Throttle, ServerError, Slow,
// HTMLPage, Truncate, WrongContentType (Slow then still serves the answer,
// with the item-level faults).
type Faults struct {
	ThrottleEvery      int           // answer 429 with Retry-After
	RetryAfter         time.Duration // the wait Retry-After asks for (default 1s; whole seconds, rounded up)
	RetryAfterHTTPDate bool          // send Retry-After as an HTTP-date instead of delta-seconds
	ThrottleCode       string        // error_code of the 429 (default APIG.0308)

	ServerErrorEvery  int // answer 5xx with an HTML page, as a gateway does
	ServerErrorStatus int // 502, 503 or 504; 0 cycles through the three

	TruncateEvery int // cut the body in half: odd occurrences short of their Content-Length, even ones chunked and complete-looking

	SlowEvery int           // answer only after SlowDelay
	SlowDelay time.Duration // default 5s

	ResetEvery int // reset the connection (TCP RST) without an answer

	WrongContentTypeEvery int // the answer, unchanged, labelled Content-Type: text/html
	HTMLPageEvery         int // 200 OK with an HTML maintenance page instead of the answer

	// ExpireTokensAfter N > 0 expires every IAM token issued so far just
	// before the (N+1)th ModelArts request, once: a token dies in the middle
	// of a walk.
	ExpireTokensAfter int

	// BadItems mangles, in every list answer, the items whose job_id is a
	// multiple of BadItemEvery (default 50), each with one of these kinds
	// (the Bad* constants), chosen by (job_id / BadItemEvery) % len(BadItems).
	// With BadItemIDs, exactly the jobs listed are mangled instead, the ith
	// with kind BadItems[i % len(BadItems)].
	BadItems     []string
	BadItemEvery int
	BadItemIDs   []int64

	// DuplicateAcrossPages replaces the first item of page p > 1 with the
	// last item of page p-1 of the same query, as served just before: one job
	// appears twice and the one it replaced not at all.
	DuplicateAcrossPages bool

	// LieTotalBy is added to job_total_count in every list answer.
	LieTotalBy int

	// OnRequest, when set, runs before each counted request is answered,
	// with its number: a test can act at a precise point of a walk (cut the
	// database, change a job). It runs without the simulator's locks.
	OnRequest func(n int, r *http.Request)
}

// FaultEvent records one ModelArts request the fault layer saw.
type FaultEvent struct {
	N        int       // request number since the faults were set
	At       time.Time // arrival, by Options.Now
	Kind     string    // one of the Fault* constants; FaultNone when the request was served as is
	Status   int       // status answered by the fault itself (0 for none, and for a reset)
	Method   string
	Path     string
	RawQuery string
	// RetryUntil is, for a throttle, the earliest time Retry-After allows
	// the next attempt: At plus the seconds, or the HTTP-date sent.
	RetryUntil time.Time
}

const (
	defaultRetryAfter   = time.Second
	defaultSlowDelay    = 5 * time.Second
	defaultBadItemEvery = 50
	defaultThrottleCode = "APIG.0308"
	maxFaultEvents      = 10000
	hugeDescBytes       = 1 << 20
)

// Validate reports a setting the fault layer cannot apply.
func (f Faults) Validate() error {
	var errs []error
	for name, v := range map[string]int{
		"ThrottleEvery": f.ThrottleEvery, "ServerErrorEvery": f.ServerErrorEvery, "TruncateEvery": f.TruncateEvery,
		"SlowEvery": f.SlowEvery, "ResetEvery": f.ResetEvery, "WrongContentTypeEvery": f.WrongContentTypeEvery,
		"HTMLPageEvery": f.HTMLPageEvery, "ExpireTokensAfter": f.ExpireTokensAfter, "BadItemEvery": f.BadItemEvery,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("faults: %s %d is negative", name, v))
		}
	}
	if f.RetryAfter < 0 || f.SlowDelay < 0 {
		errs = append(errs, errors.New("faults: RetryAfter and SlowDelay must not be negative"))
	}
	switch f.ServerErrorStatus {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		errs = append(errs, fmt.Errorf("faults: ServerErrorStatus %d is not 502, 503 or 504", f.ServerErrorStatus))
	}
	for _, k := range f.BadItems {
		if !slices.Contains(badKinds, k) {
			errs = append(errs, fmt.Errorf("faults: unknown bad item kind %q (want one of %s)", k, strings.Join(badKinds, ", ")))
		}
	}
	return errors.Join(errs...)
}

// Active reports whether any fault is configured.
func (f Faults) Active() bool {
	return f.ThrottleEvery > 0 || f.ServerErrorEvery > 0 || f.TruncateEvery > 0 || f.SlowEvery > 0 ||
		f.ResetEvery > 0 || f.WrongContentTypeEvery > 0 || f.HTMLPageEvery > 0 || f.ExpireTokensAfter > 0 ||
		len(f.BadItems) > 0 || f.DuplicateAcrossPages || f.LieTotalBy != 0 || f.OnRequest != nil
}

func (f Faults) withDefaults() Faults {
	if f.RetryAfter == 0 {
		f.RetryAfter = defaultRetryAfter
	}
	if f.SlowDelay == 0 {
		f.SlowDelay = defaultSlowDelay
	}
	if f.BadItemEvery == 0 {
		f.BadItemEvery = defaultBadItemEvery
	}
	if f.ThrottleCode == "" {
		f.ThrottleCode = defaultThrottleCode
	}
	return f
}

// faultState is the fault layer's state, behind its own mutex (never held
// together with Simulator.mu).
type faultState struct {
	mu       sync.Mutex
	faults   Faults
	n        int            // counted requests since SetFaults
	expired  bool           // ExpireTokensAfter done
	occur    map[string]int // occurrences per fault kind, for alternating behaviours
	lastItem map[string]pageItem
	events   []FaultEvent
}

type pageItem struct {
	page int
	raw  json.RawMessage
}

// SetFaults replaces the faults in force and restarts the request count.
// SetFaults(Faults{}) switches them all off.
func (s *Simulator) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	fs := &s.faultState
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = f.withDefaults()
	fs.n = 0
	fs.expired = false
	fs.occur = make(map[string]int)
	fs.lastItem = make(map[string]pageItem)
	if f.Active() {
		s.log.Info("simulator faults set", "faults", fmt.Sprintf("%+v", f))
	}
	return nil
}

// FaultEvents returns every ModelArts request the fault layer saw (the most
// recent 10000), with the fault injected, if any.
func (s *Simulator) FaultEvents() []FaultEvent {
	s.faultState.mu.Lock()
	defer s.faultState.mu.Unlock()
	return slices.Clone(s.faultState.events)
}

// withFaults wraps the API handler with the fault layer.
func (s *Simulator) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		fs := &s.faultState
		now := s.opts.Now()
		fs.mu.Lock()
		f := fs.faults
		if !f.Active() {
			fs.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		fs.n++
		n := fs.n
		expire := f.ExpireTokensAfter > 0 && n > f.ExpireTokensAfter && !fs.expired
		if expire {
			fs.expired = true
		}
		kind := f.pick(n)
		occurrence := 0
		if kind != FaultNone {
			fs.occur[kind]++
			occurrence = fs.occur[kind]
		}
		fs.mu.Unlock()

		if f.OnRequest != nil {
			f.OnRequest(n, r)
		}
		if expire {
			s.ExpireTokens()
			s.log.Info("simulator fault: every token expired", "request", n)
		}
		ev := FaultEvent{N: n, At: now, Kind: kind, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
		f.plan(&ev, occurrence)
		// Recorded on arrival: a client that saw the fault may look at once.
		fs.mu.Lock()
		if len(fs.events) >= maxFaultEvents {
			fs.events = slices.Delete(fs.events, 0, len(fs.events)-maxFaultEvents+1)
		}
		fs.events = append(fs.events, ev)
		fs.mu.Unlock()
		if kind != FaultNone {
			s.log.Debug("simulator fault", "request", n, "kind", kind, "status", ev.Status, "path", r.URL.Path)
		}
		s.applyFault(w, r, next, f, ev, occurrence)
	})
}

// plan fills the status and Retry-After of the fault ev.Kind.
func (f Faults) plan(ev *FaultEvent, occurrence int) {
	switch ev.Kind {
	case FaultThrottle:
		ev.Status = http.StatusTooManyRequests
		if f.RetryAfterHTTPDate {
			ev.RetryUntil = ev.At.Add(f.RetryAfter).UTC().Truncate(time.Second)
		} else {
			ev.RetryUntil = ev.At.Add(time.Duration(math.Ceil(f.RetryAfter.Seconds())) * time.Second)
		}
	case FaultServerError:
		ev.Status = f.ServerErrorStatus
		if ev.Status == 0 {
			ev.Status = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}[(occurrence-1)%3]
		}
	case FaultHTMLPage:
		ev.Status = http.StatusOK
	}
}

// pick chooses the request-level fault of request n.
func (f Faults) pick(n int) string {
	every := func(k int) bool { return k > 0 && n%k == 0 }
	switch {
	case every(f.ResetEvery):
		return FaultReset
	case every(f.ThrottleEvery):
		return FaultThrottle
	case every(f.ServerErrorEvery):
		return FaultServerError
	case every(f.SlowEvery):
		return FaultSlow
	case every(f.HTMLPageEvery):
		return FaultHTMLPage
	case every(f.TruncateEvery):
		return FaultTruncate
	case every(f.WrongContentTypeEvery):
		return FaultWrongContentType
	}
	return FaultNone
}

func (s *Simulator) applyFault(w http.ResponseWriter, r *http.Request, next http.Handler, f Faults, ev FaultEvent, occurrence int) {
	switch ev.Kind {
	case FaultReset:
		resetConnection(w)
		return
	case FaultThrottle:
		if f.RetryAfterHTTPDate {
			w.Header().Set("Retry-After", ev.RetryUntil.Format(http.TimeFormat))
		} else {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(ev.RetryUntil.Sub(ev.At)/time.Second), 10))
		}
		apigError(w, ev.Status, f.ThrottleCode, "The throttling threshold has been reached: policy user over ratelimit")
		return
	case FaultServerError:
		writeHTML(w, ev.Status, gatewayPage(ev.Status))
		return
	case FaultHTMLPage:
		writeHTML(w, ev.Status, "<!DOCTYPE html>\n<html><head><title>Service maintenance</title></head>\n"+
			"<body><h1>The service is under maintenance</h1><p>Please try again later.</p></body></html>\n")
		return
	case FaultSlow:
		t := time.NewTimer(f.SlowDelay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return // the client gave up
		case <-t.C:
		}
	}

	buf := &bufferedAnswer{header: make(http.Header), status: http.StatusOK}
	next.ServeHTTP(buf, r)
	body := buf.body.Bytes()
	if buf.status == http.StatusOK && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/visualization-jobs") {
		body = s.faultState.rewriteList(body, r.URL.Query(), f)
	}
	h := w.Header()
	for k, v := range buf.header {
		h[k] = v
	}
	h.Del("Content-Length")
	switch ev.Kind {
	case FaultTruncate:
		cut := body[:len(body)/2]
		if occurrence%2 == 1 {
			// Declared in full, sent in half: the server then closes the connection.
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(cut)
		return
	case FaultWrongContentType:
		h.Set("Content-Type", "text/html; charset=utf-8")
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(body)
}
