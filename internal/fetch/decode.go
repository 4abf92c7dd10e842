package fetch

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vizjob/indexer/internal/textcap"
)

// DecodePage decodes one answer of the list call. It accepts an absent
// is_success, unknown fields, and either spelling of the error message; an
// answer that reports a failure (is_success false, or an error_code without
// is_success) is an *APIError. Each job keeps its exact bytes in Raw; an item
// that cannot be decoded is listed in BadItems instead of failing the page.
// A body that is not a JSON object is an error wrapping ErrDecode.
func DecodePage(body []byte) (*Page, error) {
	f, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := failure(f); err != nil {
		return nil, err
	}
	p := &Page{}
	d := fieldDecoder{f: f}
	p.TotalCount = d.integer("job_total_count", 64)
	p.CountLimit = d.integer("job_count_limit", 64)
	p.Quotas = d.integer("quotas", 64)
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, d.err)
	}
	items, err := jobItems(f["jobs"])
	if err != nil {
		return nil, err
	}
	for i, raw := range items {
		job, err := decodeJob(raw)
		if err != nil {
			id, created := itemKey(raw)
			p.BadItems = append(p.BadItems, BadItem{Index: i, Raw: raw, Reason: err.Error(), JobID: id, CreateTime: created})
			continue
		}
		p.Jobs = append(p.Jobs, job)
	}
	return p, nil
}

// decodeDetail decodes the answer of the detail call: the job object itself,
// possibly with is_success. Raw is the whole answer.
func decodeDetail(body []byte) (*Job, error) {
	f, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := failure(f); err != nil {
		return nil, err
	}
	job, err := jobFromFields(f, withoutEnvelope(bytes.TrimSpace(body)))
	if err != nil {
		return nil, fmt.Errorf("%w: job: %v", ErrDecode, err)
	}
	return &job, nil
}

func jobItems(raw json.RawMessage) ([]json.RawMessage, error) {
	switch kind := kindOf(raw); kind {
	case "":
		return nil, fmt.Errorf("%w: answer has no jobs array", ErrDecode)
	case "null":
		return nil, nil
	case "array":
		items, _ := arrayItems(raw) // part of a body json.Valid accepted; slices of it, not copies
		return items, nil
	default:
		return nil, fmt.Errorf("%w: jobs: want an array, got %s", ErrDecode, kind)
	}
}

// decodeJob decodes one item of the jobs array strictly: job_id is a
// required integer; status, create_time and duration are integers (null or
// absent: 0); the string fields are strings (null or absent: ""); job_id,
// create_time and duration are not negative. Nothing is guessed: a field of
// the wrong type or out of range makes the whole item bad.
func decodeJob(raw json.RawMessage) (Job, error) {
	f, ok := objectFields(raw) // raw is part of a body json.Valid accepted
	if !ok {
		return Job{}, fmt.Errorf("want a JSON object, got %s", kindOf(raw))
	}
	return jobFromFields(f, raw)
}

func jobFromFields(f map[string]json.RawMessage, raw json.RawMessage) (Job, error) {
	if k := kindOf(f["job_id"]); k == "" || k == "null" {
		return Job{}, errors.New("job_id is missing")
	}
	d := fieldDecoder{f: f}
	j := Job{
		ID:         d.integer("job_id", 64),
		Name:       d.string("job_name"),
		Desc:       d.string("job_desc"),
		Status:     int(d.integer("status", 32)),
		CreateTime: d.integer("create_time", 64),
		Duration:   d.integer("duration", 64),
		ServiceURL: d.string("service_url"),
		TrainURL:   d.string("train_url"),
		ResourceID: d.string("resource_id"),
		Raw:        raw,

		RemainingDuration: optionalInteger(f["remaining_duration"]),
	}
	if d.err != nil {
		return Job{}, d.err
	}
	for _, f := range []struct {
		name  string
		value int64
	}{{"job_id", j.ID}, {"create_time", j.CreateTime}, {"duration", j.Duration}} {
		if f.value < 0 {
			return Job{}, fmt.Errorf("%s: %d is negative", f.name, f.value)
		}
	}
	return j, nil
}

// itemKey returns the job_id and create_time of an item that could not be
// decoded, each when the item is an object and the field a non-negative JSON
// integer; else nil (a field of another type is not converted: that would be
// a guess).
func itemKey(raw json.RawMessage) (jobID, createTime *int64) {
	f, ok := objectFields(raw)
	if !ok {
		return nil, nil
	}
	field := func(key string) *int64 {
		if kindOf(f[key]) != "number" {
			return nil
		}
		n, err := integer(f[key], 64)
		if err != nil || n < 0 {
			return nil
		}
		return &n
	}
	return field("job_id"), field("create_time")
}

// fieldDecoder decodes typed fields of an object and keeps the first error.
type fieldDecoder struct {
	f   map[string]json.RawMessage
	err error
}

func (d *fieldDecoder) integer(key string, bits int) int64 {
	if d.err != nil {
		return 0
	}
	n, err := integer(d.f[key], bits)
	if err != nil {
		d.err = fmt.Errorf("%s: %w", key, err)
	}
	return n
}

func (d *fieldDecoder) string(key string) string {
	if d.err != nil {
		return ""
	}
	s, err := str(d.f[key])
	if err != nil {
		d.err = fmt.Errorf("%s: %w", key, err)
	}
	return s
}

// integer decodes a JSON integer that fits bits; null and absent give 0.
func integer(raw json.RawMessage, bits int) (int64, error) {
	switch kind := kindOf(raw); kind {
	case "", "null":
		return 0, nil
	case "number":
	default:
		return 0, fmt.Errorf("want an integer, got %s", kind)
	}
	s := string(raw)
	if strings.ContainsAny(s, ".eE") {
		return 0, fmt.Errorf("want an integer, got %s", clip(s))
	}
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s does not fit in %d bits", clip(s), bits)
	}
	return n, nil
}

// optionalInteger decodes a non-negative JSON integer of 64 bits, for a field no page documents:
// anything else (null, absent, another type, out of range) gives nil rather than a bad item.
func optionalInteger(raw json.RawMessage) *int64 {
	if kindOf(raw) != "number" {
		return nil
	}
	n, err := integer(raw, 64)
	if err != nil || n < 0 {
		return nil
	}
	return &n
}

// str decodes a JSON string; null and absent give "".
func str(raw json.RawMessage) (string, error) {
	switch kind := kindOf(raw); kind {
	case "", "null":
		return "", nil
	case "string":
		return jsonString(raw), nil // raw is a member of an object split by objectFields
	default:
		return "", fmt.Errorf("want a string, got %s", kind)
	}
}

// looseString reads a string or a number as text (error codes come as
// either); anything else gives "".
func looseString(raw json.RawMessage) string {
	switch kindOf(raw) {
	case "string":
		s, _ := str(raw)
		return s
	case "number":
		return string(raw)
	}
	return ""
}

// kindOf names the JSON type of a valid raw value; "" when absent.
func kindOf(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// decodeObject parses an answer that must be a JSON object, validating it once: its members are
// slices of body, which the split* functions may cut further without validating again.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty answer", ErrDecode)
	}
	if !json.Valid(body) {
		var v json.RawMessage
		err := json.Unmarshal(body, &v) // for the syntax error and where it is
		return nil, fmt.Errorf("%w: not JSON (%v): %q", ErrDecode, err, snippet(body))
	}
	f, ok := objectFields(body)
	switch kind := kindOf(body); {
	case kind == "null":
		return nil, fmt.Errorf("%w: want a JSON object, got null", ErrDecode)
	case !ok:
		return nil, fmt.Errorf("%w: want a JSON object, got %s: %q", ErrDecode, kind, snippet(body))
	}
	return f, nil
}

// failure returns the *APIError an answer reports: is_success false, or no
// is_success and an error code or message (gateway and IAM errors). It
// returns an ErrDecode error when is_success is not a boolean.
func failure(f map[string]json.RawMessage) error {
	switch kind := kindOf(f["is_success"]); kind {
	case "boolean":
		if string(bytes.TrimSpace(f["is_success"])) == "true" {
			return nil
		}
		return errorFields(f)
	case "", "null":
		if e := errorFields(f); e.Code != "" || e.Message != "" {
			return e
		}
		return nil
	default:
		return fmt.Errorf("%w: is_success: want a boolean, got %s", ErrDecode, kind)
	}
}

// Caps of the text of an error answer, in bytes (see textcap.Clean): the message is cut and marked,
// control characters escaped, so that a hostile or broken server cannot fill logs, the ledger and
// the status page.
const (
	MaxErrorMessage = 4 << 10
	maxErrorField   = 256 // error_code, request_id
)

// errorFields reads error_code, error_message or error_msg, request_id, and
// IAM's {"error": {"code", "title", "message"}}, each capped.
func errorFields(f map[string]json.RawMessage) *APIError {
	e := rawErrorFields(f)
	e.Code = textcap.Clean(e.Code, maxErrorField)
	e.Message = textcap.Clean(e.Message, MaxErrorMessage)
	e.RequestID = textcap.Clean(e.RequestID, maxErrorField)
	return e
}

func rawErrorFields(f map[string]json.RawMessage) *APIError {
	e := &APIError{Code: looseString(f["error_code"]), RequestID: looseString(f["request_id"])}
	e.Message = cmp.Or(looseString(f["error_message"]), looseString(f["error_msg"]))
	if kindOf(f["error"]) == "object" {
		if inner, ok := objectFields(f["error"]); ok {
			e.Code = cmp.Or(e.Code, looseString(inner["code"]))
			e.Message = cmp.Or(e.Message, looseString(inner["message"]), looseString(inner["title"]))
		}
	}
	return e
}

// decodeAPIError turns a non-2xx answer into an *APIError, whatever its body.
func decodeAPIError(status int, h http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{}
	if f, err := decodeObject(body); err == nil {
		e = errorFields(f)
		if e.Code == "" && e.Message == "" {
			e.Message = fmt.Sprintf("unrecognised error answer: %q", snippet(body))
		}
	} else if len(bytes.TrimSpace(body)) > 0 {
		e.notJSON = true
		e.Message = fmt.Sprintf("answer is not a JSON object (%s): %q", describeType(h, body), snippet(body))
	}
	e.HTTPStatus = status
	if e.Code == strconv.Itoa(status) { // IAM's {"error": {"code": 401}} repeats the status: say it once
		e.Code = ""
	}
	e.RequestID = cmp.Or(e.RequestID, textcap.Clean(h.Get("X-Request-Id"), maxErrorField))
	e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	return e
}

// snippet shows the first bytes of an answer on one line: control
// characters and runs of spaces become one space, invalid UTF-8 is dropped.
func snippet(body []byte) string {
	const n = 120
	s := string(body[:min(len(body), n)])
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(body) > n {
		s += "..."
	}
	return s
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// withoutEnvelope removes the answer's is_success member from a detail
// answer, which is the job object plus that member, so that Job.Raw is the
// item as the list call serves it (a sync storing it then finds nothing to
// rewrite on the next walk). Any other body is returned as a copy.
func withoutEnvelope(raw []byte) json.RawMessage {
	var f map[string]json.RawMessage
	if json.Unmarshal(raw, &f) != nil {
		return bytes.Clone(raw)
	}
	if _, ok := f["is_success"]; !ok {
		return bytes.Clone(raw)
	}
	delete(f, "is_success")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(f) != nil {
		return bytes.Clone(raw)
	}
	return bytes.TrimSpace(b.Bytes())
}
