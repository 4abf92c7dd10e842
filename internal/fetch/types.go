package fetch

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Job is one item of the list answer. Raw keeps the item exactly as received
// (unknown fields included); the typed fields are decoded from it.
type Job struct {
	ID         int64  // job_id
	Name       string // job_name
	Desc       string // job_desc
	Status     int    // status code, stored even when undocumented
	CreateTime int64  // create_time, epoch milliseconds
	Duration   int64  // duration, milliseconds
	ServiceURL string // service_url
	TrainURL   string // train_url
	ResourceID string // resource_id (undocumented, often present)
	Raw        json.RawMessage
}

// CreatedAt converts CreateTime (epoch ms) to a time; the zero time when the
// API sent none, null or 0 (no job was created at the epoch), stored as null.
func (j Job) CreatedAt() time.Time {
	if j.CreateTime == 0 {
		return time.Time{}
	}
	return time.UnixMilli(j.CreateTime).UTC()
}

// Sort keys of the list call.
const (
	SortJobName    = "job_name"
	SortJobDesc    = "job_desc"
	SortStatus     = "status"
	SortDuration   = "duration"
	SortCreateTime = "create_time"
	SortLogDir     = "log_dir"
	SortJobID      = "job_id" // newer REST pages only
)

// Query holds the parameters of one list call. Zero values are omitted from
// the request (the API's defaults apply), except Page and PerPage which the
// client always sends.
type Query struct {
	Page          int    // 1-based
	OmitPage      bool   // send no page parameter (Page is ignored): the service's default page, documented as 1
	PerPage       int    // 1..MaxPerPage
	SortBy        string // one of the Sort* keys; spelled sortBy (AK/SK) or sort_by (token)
	Order         string // "asc" or "desc"
	Status        *int   // only jobs with this status
	SearchContent string // text searched in job names
	WorkspaceID   string // REST pages only
}

// Page is one decoded answer of the list call.
type Page struct {
	Jobs       []Job
	TotalCount int64 // job_total_count: jobs matching the query now
	CountLimit int64 // job_count_limit
	Quotas     int64 // quotas

	// BadItems lists the items of jobs that could not be decoded (not an
	// object, no job_id, a field of the wrong type). They are left out of
	// Jobs; the caller decides whether they make the page unusable.
	BadItems []BadItem
}

// Whole says whether p is the whole answer of its query, in one page: fewer items than perPage, as
// many as job_total_count, every one decoded. A job missing from such a page was not in the listing
// when the page was answered.
func (p *Page) Whole(perPage int) bool {
	return len(p.BadItems) == 0 && len(p.Jobs) < perPage && int64(len(p.Jobs)) == p.TotalCount
}

// BadItem is one item of the jobs array that could not be decoded.
type BadItem struct {
	Index  int             // position in the jobs array
	Raw    json.RawMessage // the item exactly as received
	Reason string          // what was wrong, e.g. "job_id: want an integer, got string"
	JobID  *int64          // the item's job_id if it is a non-negative JSON integer, else nil
	// CreateTime is the item's create_time if it is a non-negative JSON
	// integer, else nil: with JobID, it places the item in a create_time walk.
	CreateTime *int64
}

// APIError is a failure answered by the API or its gateway.
type APIError struct {
	HTTPStatus int
	Code       string // error_code, e.g. ModelArts.0104 or APIG.0308
	Message    string // error_message or error_msg
	RequestID  string // request_id or the X-Request-Id header
	RetryAfter time.Duration
	Attempts   int // HTTP requests the call made, retries included (0 if unknown)

	service string // "iam" for IAM answers; empty for ModelArts
	notJSON bool   // the body was not JSON; Message describes it
}

func (e *APIError) Error() string {
	msg := cmp.Or(e.service, "modelarts api")
	// Say first what kind of failure it is, in the words a user searches for.
	for _, kind := range []error{ErrAuth, ErrForbidden, ErrThrottled} {
		if errors.Is(e, kind) {
			msg += ": " + kind.Error()
			break
		}
	}
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(": http %d", e.HTTPStatus)
	}
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request_id " + e.RequestID + ")"
	}
	return msg
}

// Sentinel errors callers branch on; an *APIError wraps one of them through Unwrap.
var (
	ErrAuth      = errors.New("authentication failed")
	ErrForbidden = errors.New("permission denied")
	ErrThrottled = errors.New("throttled")
	ErrBadInput  = errors.New("request rejected as invalid")
	ErrNotFound  = errors.New("not found")
	ErrServer    = errors.New("server error")
	ErrDecode    = errors.New("malformed answer")
)

// Unwrap maps the error_code and the HTTP status to sentinel errors, so that
// errors.Is matches either: a ModelArts.0202 answer is ErrAuth whatever its
// status, a 429 is ErrThrottled whatever its code. An answer whose body was
// not JSON also matches ErrDecode.
func (e *APIError) Unwrap() []error {
	var errs []error
	if err := codeSentinel[e.Code]; err != nil {
		errs = append(errs, err)
	}
	if err := statusSentinel(e.HTTPStatus); err != nil && !slices.Contains(errs, err) {
		errs = append(errs, err)
	}
	if e.notJSON {
		errs = append(errs, ErrDecode)
	}
	return errs
}

// codeSentinel maps the documented error codes to sentinel errors.
var codeSentinel = map[string]error{
	"ModelArts.0201": ErrAuth, // token missing, expired, invalid, not project-scoped
	"ModelArts.0202": ErrAuth,
	"ModelArts.0203": ErrAuth,
	"ModelArts.0207": ErrAuth,
	"ModelArts.0212": ErrAuth,
	"ModelArts.4127": ErrAuth,
	"ModelArts.0108": ErrForbidden, // not allowed, bad AK/SK, project mismatch
	"ModelArts.0206": ErrForbidden,
	"ModelArts.0210": ErrForbidden,
	"ModelArts.2799": ErrThrottled,
	"ModelArts.4206": ErrThrottled,
	"ModelArts.4395": ErrThrottled,
	"ModelArts.6101": ErrThrottled,
	"APIG.0308":      ErrThrottled,
	"APIGW.0308":     ErrThrottled,
	"ModelArts.0101": ErrBadInput,
	"ModelArts.0102": ErrBadInput,
	"ModelArts.0104": ErrBadInput,
	"ModelArts.0010": ErrServer,
}

func statusSentinel(status int) error {
	switch {
	case status == 401:
		return ErrAuth
	case status == 403:
		return ErrForbidden
	case status == 429:
		return ErrThrottled
	case status == 404:
		return ErrNotFound
	case status == 408 || status >= 500: // 408: the gateway gave up waiting, transient

		return ErrServer
	case status >= 400:
		return ErrBadInput
	}
	return nil
}
