package simulator

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dialect: how the simulator answers what the API documentation leaves open.
// The indexer must work whichever way the real service answers, so every
// plausible answer is an option here, and the tests run the sync against each
// of them. The zero value is the simulator's historical behaviour.
type Dialect struct {
	// NotFound is the detail call's answer for a job that does not exist
	// (one of the NotFound* constants; default NotFound404).
	NotFound string
	// CreateSkew, when positive, gives each job created while serving
	// (CreateJob, churn) a create_time up to this much older than the newest
	// job's, as API servers whose clocks differ by up to a second or so do:
	// new jobs are then not strictly last in the create_time order.
	CreateSkew time.Duration
	// Search is how search_content matches (one of the Search* constants;
	// default SearchName).
	Search string
	// StatusIgnored makes the list call ignore its status filter and list
	// every job, as a deployment that does not know the parameter would.
	StatusIgnored bool
	// Pages is how the list call reads its page parameter, and what it answers
	// for a page past the last (one of the Pages* constants; default
	// PagesDocumented).
	Pages string
	// PerPageCap, when positive, serves at most this many jobs a page whatever per_page asks for,
	// without an error, as a deployment with a lower limit than the documentation's may.
	PerPageCap int
}

// Answers of the detail call for a missing job (Dialect.NotFound).
const (
	NotFound404         = "404"         // 404 {"error_code":"ModelArts.0105","error_message":"Job does not exist"}
	NotFound400         = "400"         // 400 {"error_code":"ModelArts.2764","error_msg":"Visualization job (ID: N) not found."}: the training-job family's convention
	NotFoundUnpublished = "unpublished" // the detail route is not published: every detail request, existing job or not, gets the gateway's 404 APIG.0101
	NotFoundHTML        = "html404"     // a proxy answers a missing job with an HTML 404 page
)

// Matching rules of search_content (Dialect.Search).
const (
	SearchName     = "name"      // case-insensitive substring of the job name
	SearchNameDesc = "name_desc" // case-insensitive substring of the name or of the description
	SearchExact    = "exact"     // the whole name, case-sensitive
	SearchIgnored  = "ignored"   // the parameter is ignored: every job matches
	SearchNothing  = "nothing"   // nothing ever matches
)

// Answers of the list call about its page parameter (Dialect.Pages). The documentation says only that
// page is "the index of the page to be queried, default 1".
const (
	PagesDocumented = "documented" // 1-based; a page past the last is empty
	PagesClamp      = "clamp"      // a page past the last answers the last page again, as a clamping gateway does
	PagesIgnore     = "ignore"     // page is ignored: every page is the first
	PagesError400   = "error400"   // a page past the last is 400 ModelArts.0104 "page is out of range"
	PagesError404   = "error404"   // a page past the last is a 404
	PagesZeroBased  = "zero-based" // pages count from 0: page=1 is the second page (page omitted: the first)
)

var (
	pagesModes    = []string{PagesDocumented, PagesClamp, PagesIgnore, PagesError400, PagesError404, PagesZeroBased}
	notFoundModes = []string{NotFound404, NotFound400, NotFoundUnpublished, NotFoundHTML}
	searchModes   = []string{SearchName, SearchNameDesc, SearchExact, SearchIgnored, SearchNothing}
)

// NotFoundModes and SearchModes list every option, for tests that run in each.
func NotFoundModes() []string { return slices.Clone(notFoundModes) }
func SearchModes() []string   { return slices.Clone(searchModes) }

// PagesModes lists every answer about pages (Dialect.Pages), for tests that run in each.
func PagesModes() []string { return slices.Clone(pagesModes) }

// Validate reports an option the simulator does not know.
func (d Dialect) Validate() error {
	var errs []error
	if d.NotFound != "" && !slices.Contains(notFoundModes, d.NotFound) {
		errs = append(errs, fmt.Errorf("dialect: not-found %q is not one of %s", d.NotFound, strings.Join(notFoundModes, ", ")))
	}
	if d.Search != "" && !slices.Contains(searchModes, d.Search) {
		errs = append(errs, fmt.Errorf("dialect: search %q is not one of %s", d.Search, strings.Join(searchModes, ", ")))
	}
	if d.Pages != "" && !slices.Contains(pagesModes, d.Pages) {
		errs = append(errs, fmt.Errorf("dialect: pages %q is not one of %s", d.Pages, strings.Join(pagesModes, ", ")))
	}
	if d.PerPageCap < 0 {
		errs = append(errs, fmt.Errorf("dialect: per-page-cap %d is negative", d.PerPageCap))
	}
	if d.CreateSkew < 0 {
		errs = append(errs, fmt.Errorf("dialect: create-skew %s is negative", d.CreateSkew))
	}
	return errors.Join(errs...)
}

// String is the dialect in the syntax ParseDialect reads.
func (d Dialect) String() string {
	status := "honoured"
	if d.StatusIgnored {
		status = "ignored"
	}
	return fmt.Sprintf("not-found=%s,search=%s,status-filter=%s,create-skew=%s,pages=%s,per-page-cap=%d",
		cmp.Or(d.NotFound, NotFound404), cmp.Or(d.Search, SearchName), status, d.CreateSkew, cmp.Or(d.Pages, PagesDocumented), d.PerPageCap)
}

// ParseDialect reads "not-found=400,search=name_desc,create-skew=2s,pages=clamp" (any
// subset, any order; empty: the defaults).
func ParseDialect(spec string) (Dialect, error) {
	var d Dialect
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, _ := strings.Cut(part, "=")
		switch key {
		case "not-found":
			d.NotFound = value
		case "search":
			d.Search = value
		case "pages":
			d.Pages = value
		case "per-page-cap":
			n, err := strconv.Atoi(value)
			if err != nil {
				return d, fmt.Errorf("dialect: per-page-cap %q: want a number of jobs such as 50", value)
			}
			d.PerPageCap = n
		case "status-filter":
			switch value {
			case "ignored":
				d.StatusIgnored = true
			case "", "honoured":
			default:
				return d, fmt.Errorf("dialect: status-filter %q: want honoured or ignored", value)
			}
		case "create-skew":
			v, err := time.ParseDuration(value)
			if err != nil {
				return d, fmt.Errorf("dialect: create-skew %q: want a duration such as 2s", value)
			}
			d.CreateSkew = v
		default:
			return d, fmt.Errorf("dialect: unknown key %q (want not-found, search, status-filter, create-skew, pages or per-page-cap)", key)
		}
	}
	return d, d.Validate()
}

// SetDialect changes the dialect while serving.
func (s *Simulator) SetDialect(d Dialect) error {
	if err := d.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Dialect = d
	return nil
}

// newCreateTimeLocked is the create_time of a job created now: a little after
// the newest job, or with Dialect.CreateSkew up to that much before it.
// Callers hold s.mu.
func (s *Simulator) newCreateTimeLocked() int64 {
	if skew := s.opts.Dialect.CreateSkew.Milliseconds(); skew > 0 {
		return max(s.maxCreate-s.rng.Int64N(skew+1), 0)
	}
	return s.maxCreate + 1 + s.rng.Int64N(createTimeDrift)
}

// pageSpan is where the answer for page (as sent; given false: the parameter was omitted) starts in
// a listing of n jobs served perPage at a time, as Dialect.Pages reads the parameter: the index of
// the first job (n or more: an empty page), or an answer that refuses the page (status, code and
// message; status 0: none). Callers hold s.mu.
func (s *Simulator) pageSpan(page int, given bool, perPage, n int) (from, status int, code, msg string) {
	pages := (n + perPage - 1) / perPage
	past := page > max(pages, 1) // page 1 of an empty listing is the empty listing, in every dialect
	switch mode := s.opts.Dialect.Pages; {
	case mode == PagesZeroBased:
		if !given {
			page = 0
		}
		return page * perPage, 0, "", ""
	case page < 1:
		return 0, http.StatusBadRequest, "ModelArts.0104", fmt.Sprintf("Invalid parameter page: \"%d\" is not an integer of at least 1", page)
	case mode == PagesIgnore:
		return 0, 0, "", ""
	case mode == PagesClamp && past:
		return (max(pages, 1) - 1) * perPage, 0, "", ""
	case mode == PagesError400 && past:
		return 0, http.StatusBadRequest, "ModelArts.0104", fmt.Sprintf("Parameter error: page %d is out of range", page)
	case mode == PagesError404 && past:
		return 0, http.StatusNotFound, "ModelArts.0105", fmt.Sprintf("Page %d does not exist", page)
	}
	return (page - 1) * perPage, 0, "", ""
}

// searchMatches says whether job j matches search_content q (lower case for
// the case-insensitive rules; raw is q as sent). Callers hold s.mu.
func (s *Simulator) searchMatches(j *JobState, q, raw string) bool {
	switch s.opts.Dialect.Search {
	case SearchNameDesc:
		return strings.Contains(strings.ToLower(j.Name), q) || strings.Contains(strings.ToLower(j.Desc), q)
	case SearchExact:
		return j.Name == raw
	case SearchIgnored:
		return true
	case SearchNothing:
		return false
	default:
		return strings.Contains(strings.ToLower(j.Name), q)
	}
}

// answerNotFound answers the detail call for a job that does not exist.
func (s *Simulator) answerNotFound(w http.ResponseWriter, mode string, id int64) {
	switch mode {
	case NotFound400:
		modelArtsErrorMsg(w, http.StatusBadRequest, "ModelArts.2764", fmt.Sprintf("Visualization job (ID: %d) not found.", id))
	case NotFoundHTML:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>\n"))
	default:
		// No documentation page names the code of an unknown job:
		// ModelArts.0105 is the simulator's choice.
		modelArtsError(w, http.StatusNotFound, "ModelArts.0105", "Job does not exist")
	}
}

// modelArtsErrorMsg answers as the ModelArts service's older pages do, with
// error_msg instead of error_message.
func modelArtsErrorMsg(w http.ResponseWriter, status int, code, msg string) {
	b, _ := encode(struct {
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
	}{code, msg})
	writeJSON(w, status, b)
}
