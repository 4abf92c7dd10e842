package simulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vizjob/indexer/internal/fetch"
)

// JobState is the editable representation of one job. The list and detail
// calls serve it as a JSON object whose keys come in this order: job_id,
// job_name, status, create_time, duration, job_desc, service_url, train_url,
// resource_id (only when not empty), remaining_duration (only when
// HasRemainingDuration), then the Extra keys sorted.
type JobState struct {
	ID         int64
	Name       string
	Status     int
	CreateTime int64 // epoch milliseconds
	Duration   int64 // milliseconds
	Desc       string
	ServiceURL string
	TrainURL   string
	ResourceID string // omitted when empty

	// HasRemainingDuration serves remaining_duration: null when
	// RemainingDuration is nil, else its value.
	HasRemainingDuration bool
	RemainingDuration    *int64

	// Extra holds undocumented fields, served after the documented ones in
	// sorted key order. Values are encoded with encoding/json (a
	// json.RawMessage is served as is, compacted); a value that cannot be
	// encoded is served as null. Keys that name a documented field are
	// ignored.
	Extra map[string]any
}

// documentedKeys are the fields an Extra key may not override.
var documentedKeys = []string{
	"job_id", "job_name", "status", "create_time", "duration", "job_desc",
	"service_url", "train_url", "resource_id", "remaining_duration",
}

// MarshalJSON renders the item exactly as the list call serves it.
func (j JobState) MarshalJSON() ([]byte, error) {
	return j.appendJSON(nil), nil
}

func (j *JobState) appendJSON(b []byte) []byte {
	b = append(b, `{"job_id":`...)
	b = strconv.AppendInt(b, j.ID, 10)
	b = append(b, `,"job_name":`...)
	b = appendString(b, j.Name)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(j.Status), 10)
	b = append(b, `,"create_time":`...)
	b = strconv.AppendInt(b, j.CreateTime, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, j.Duration, 10)
	b = append(b, `,"job_desc":`...)
	b = appendString(b, j.Desc)
	b = append(b, `,"service_url":`...)
	b = appendString(b, j.ServiceURL)
	b = append(b, `,"train_url":`...)
	b = appendString(b, j.TrainURL)
	if j.ResourceID != "" {
		b = append(b, `,"resource_id":`...)
		b = appendString(b, j.ResourceID)
	}
	if j.HasRemainingDuration {
		b = append(b, `,"remaining_duration":`...)
		if j.RemainingDuration == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, *j.RemainingDuration, 10)
		}
	}
	keys := make([]string, 0, len(j.Extra))
	for k := range j.Extra {
		if !slices.Contains(documentedKeys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, j.Extra[k])
	}
	return append(b, '}')
}

// appendString writes s as a JSON string without HTML escaping, as the real
// service does (its Java JSON library leaves < > & alone), byte for byte as
// encoding/json does with SetEscapeHTML(false) (TestAppendStringAsEncodingJSON).
// By hand because an Encoder per string was most of the cost of serving a
// page: every job has four strings.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // invalid UTF-8
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but not JavaScript
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendValue(b []byte, v any) []byte {
	enc, err := encode(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// job converts the state to what a client decodes from the list call.
func (j *JobState) job() fetch.Job {
	return fetch.Job{
		ID:         j.ID,
		Name:       j.Name,
		Desc:       j.Desc,
		Status:     j.Status,
		CreateTime: j.CreateTime,
		Duration:   j.Duration,
		ServiceURL: j.ServiceURL,
		TrainURL:   j.TrainURL,
		ResourceID: j.ResourceID,
		Raw:        j.appendJSON(nil),
	}
}

// compareBy returns the order of a sort key, ascending, or nil for an unknown
// key. Ties are not broken here.
func compareBy(key string) func(a, b *JobState) int {
	switch key {
	case fetch.SortJobName:
		return func(a, b *JobState) int { return strings.Compare(a.Name, b.Name) }
	case fetch.SortJobDesc:
		return func(a, b *JobState) int { return strings.Compare(a.Desc, b.Desc) }
	case fetch.SortStatus:
		return func(a, b *JobState) int { return cmp.Compare(a.Status, b.Status) }
	case fetch.SortDuration:
		return func(a, b *JobState) int { return cmp.Compare(a.Duration, b.Duration) }
	case fetch.SortCreateTime:
		return func(a, b *JobState) int { return cmp.Compare(a.CreateTime, b.CreateTime) }
	case fetch.SortLogDir: // log_dir is the train_url
		return func(a, b *JobState) int { return strings.Compare(a.TrainURL, b.TrainURL) }
	case fetch.SortJobID:
		return func(a, b *JobState) int { return cmp.Compare(a.ID, b.ID) }
	}
	return nil
}
