package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
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

// CreatedAt converts CreateTime (epoch ms) to a time.
func (j Job) CreatedAt() time.Time { return time.UnixMilli(j.CreateTime).UTC() }

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
	PerPage       int    // 1..MaxPerPage
	SortBy        string // one of the Sort* keys; spelled sortBy (AK/SK) or sort_by (token)
	Order         string // "asc" or "desc"
	Status        *int   // only jobs with this status
	SearchContent string // text searched in job names
	WorkspaceID   string // REST pages only
}

// Page is one decoded answer of the list call.
type Page struct {
	Jobs          []Job
	TotalCount    int64 // job_total_count: jobs matching the query now
	CountLimit    int64 // job_count_limit
	Quotas        int64 // quotas
	HTTPRequests  int   // requests this page took, retries included
	RetriesNeeded int   // retries this page took
}

// APIError is a failure answered by the API or its gateway.
type APIError struct {
	HTTPStatus int
	Code       string // error_code, e.g. ModelArts.0104 or APIG.0308
	Message    string // error_message or error_msg
	RequestID  string // request_id or the X-Request-Id header
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("modelarts api: http %d", e.HTTPStatus)
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

// Unwrap maps the HTTP status to a sentinel error.
func (e *APIError) Unwrap() error {
	switch {
	case e.HTTPStatus == 401:
		return ErrAuth
	case e.HTTPStatus == 403:
		return ErrForbidden
	case e.HTTPStatus == 429:
		return ErrThrottled
	case e.HTTPStatus == 404:
		return ErrNotFound
	case e.HTTPStatus >= 500:
		return ErrServer
	case e.HTTPStatus >= 400:
		return ErrBadInput
	}
	return nil
}
