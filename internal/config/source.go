package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/robfig/cron/v3"

	"github.com/vizjob/indexer/internal/fetch"
)

// Source is one ModelArts project in one region to mirror. Its settings are the rows of the table
// settings that have a source field: the environment's one source, or a source of the
// configuration file (each row's Key).
type Source struct {
	Name          string // name in the database (sync_runs.source, visualization_jobs.source)
	Endpoint      string // ModelArts base URL
	Region        string
	ProjectID     string
	AK, SK        string
	SecurityToken string
	Username      string
	Password      string
	DomainName    string
	IAMEndpoint   string
	Schedule      string // cron expression for `indexer run`
	PerPage       int    // page size of a walk
	MaxPerPage    int    // largest per_page the endpoint accepts
	WorkspaceID   string // the ModelArts workspace whose jobs are listed; "": the API's default workspace

	file   bool              // from the configuration file: messages name its keys
	line   int               // line of the source in the configuration file (0: from the environment)
	origin map[string]string // the environment's source: what set each setting (Config.origin)

	// secretFiles are the files the configuration file's {file: PATH} credentials were read from, as
	// written, with their paths (for secretFileWarnings).
	secretFiles [][2]string
}

// AuthMode is "aksk" when AK/SK is set, else "token".
func (s Source) AuthMode() string {
	if s.AK != "" || s.SK != "" {
		return "aksk"
	}
	return "token"
}

// PerPageSetting names the source's page-size setting as the user gave it, for messages that ask to
// change it: its key in the configuration file, else the flag that set it, else the variable.
func (s Source) PerPageSetting() string {
	if s.file {
		for _, st := range settings {
			if st.Variable == EnvPerPage {
				return fmt.Sprintf("%s of source %s in the configuration file", st.Key, s.Name)
			}
		}
	}
	return cmp.Or(s.origin[EnvPerPage], EnvPerPage)
}

// tokenAuth says whether the source uses token authentication: no AK/SK, and some of the IAM user's settings.
func (s *Source) tokenAuth() bool {
	return s.AuthMode() == "token" && (s.Username != "" || s.Password != "" || s.DomainName != "")
}

// String never prints a secret.
func (s Source) String() string {
	return fmt.Sprintf("source %q (project %s at %s, %s auth)", s.Name, s.ProjectID, s.Endpoint, s.AuthMode())
}

// GoString never prints a secret.
func (s Source) GoString() string { return s.String() }

// isSet says whether the setting of variable was given explicitly (a number given as 0 is then
// checked, not defaulted). A file's sources never say: 0 there means unset.
func (s *Source) isSet(variable string) bool { return !s.file && s.origin[variable] != "" }

// sourceCheck is what a per-source row's check works on: the source, whose derived values it may
// fill, and the errors found, each naming a setting as the user wrote it (name, value).
type sourceCheck struct {
	*Source
	allowHTTP bool              // Config.AllowInsecureHTTP
	keys      map[string]string // the settings' keys in the file, by variable
	errs      []error
}

// name is what messages call the source's setting of variable: the key of the configuration file,
// else the flag that set it, else the variable.
func (r *sourceCheck) name(variable string) string {
	if r.file {
		return r.keys[variable]
	}
	return cmp.Or(r.origin[variable], variable)
}

// value names a setting with its value: NAME="v" for a variable, name "v" for a flag or a key of the file.
func (r *sourceCheck) value(variable, v string) string {
	if n := r.name(variable); r.file || strings.HasPrefix(n, "-") {
		return fmt.Sprintf("%s %q", n, v)
	}
	return fmt.Sprintf("%s=%q", variable, v)
}

// secretHint says how else a secret is given: its _FILE variable, or a reference in the file.
func (r *sourceCheck) secretHint(variable string) string {
	if r.file {
		return r.keys[variable] + ": {env: VARIABLE} or {file: PATH}"
	}
	return "or " + variable + fileSuffix
}

func (r *sourceCheck) bad(format string, a ...any) { r.errs = append(r.errs, fmt.Errorf(format, a...)) }

// validate gives each of the source's settings its default and checks it, row by row of the table
// settings; every message starts with the source's name.
func (s *Source) validate(allowHTTP bool) error {
	r := &sourceCheck{Source: s, allowHTTP: allowHTTP, keys: map[string]string{}}
	for _, st := range settings {
		r.keys[st.Variable] = st.Key
	}
	for _, st := range settings {
		if st.source == nil {
			continue
		}
		// A string left empty, or a number left 0 where it was not given explicitly, takes the default.
		if v := reflect.ValueOf(st.source(s)).Elem(); st.def != nil && v.IsZero() && (v.Kind() == reflect.String || !s.isSet(st.Variable)) {
			v.Set(reflect.ValueOf(st.def))
		}
		if st.checkSource != nil {
			st.checkSource(r)
		}
	}
	if len(r.errs) == 0 {
		return nil
	}
	name := cmp.Or(s.Name, "(unnamed)")
	if s.line > 0 && s.Name == "" {
		name = fmt.Sprintf("(unnamed, line %d)", s.line)
	}
	for i, err := range r.errs {
		r.errs[i] = fmt.Errorf("source %s: %w", name, err)
	}
	return errors.Join(r.errs...)
}

// The rules of a source's settings that take more than a line (the rows of settings name them).

func checkProjectID(r *sourceCheck) {
	if r.ProjectID == "" {
		r.bad("%s is not set: the ModelArts project id (console: My Credentials > API Credentials)", r.name(EnvProjectID))
	} else if !validID(r.ProjectID) {
		r.bad("%s is not a project id: letters, digits, - and _ only, at most 64 (a ModelArts project id is 32 hexadecimal characters; console: My Credentials > API Credentials)",
			r.value(EnvProjectID, r.ProjectID))
	}
}

// checkRegion: endpoints are made from the region, so it must be a region name and nothing that
// could name another host ("cn-north-4.myhuaweicloud.com@other-host#").
func checkRegion(r *sourceCheck) {
	if r.Region != "" && !validRegion(r.Region) {
		r.bad("%s is not a region: lower-case letters and digits in parts joined by -, e.g. cn-north-4", r.value(EnvRegion, r.Region))
	}
}

// validRegion says whether region is a region name as Huawei Cloud writes them (cn-north-4,
// ap-southeast-1): parts of lower-case letters and digits joined by "-", 32 bytes at most, so that
// the endpoints made from it name a host under the cloud's domain and nothing else.
func validRegion(region string) bool {
	if len(region) > 32 {
		return false
	}
	for _, part := range strings.Split(region, "-") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

func checkEndpoint(r *sourceCheck) {
	if r.Endpoint == "" && validRegion(r.Region) { // an invalid region is checkRegion's to report
		r.Endpoint = fmt.Sprintf(defaultEndpointTmpl, r.Region, domainFor(r.Region))
	}
	if r.Endpoint == "" {
		r.bad("no ModelArts endpoint: set %s (e.g. https://modelarts.cn-north-4.myhuaweicloud.com) or %s (e.g. cn-north-4)",
			r.name(EnvEndpoint), r.name(EnvRegion))
		return
	}
	r.checkBaseURL(EnvEndpoint, r.Endpoint, "the signature or token")
}

func checkIAMEndpoint(r *sourceCheck) {
	if !r.tokenAuth() {
		return
	}
	if r.IAMEndpoint == "" && validRegion(r.Region) {
		r.IAMEndpoint = fmt.Sprintf(defaultIAMTmpl, r.Region, domainFor(r.Region))
	}
	if r.IAMEndpoint == "" {
		r.bad("no IAM endpoint for token authentication: set %s or %s", r.name(EnvIAMEndpoint), r.name(EnvRegion))
		return
	}
	r.checkBaseURL(EnvIAMEndpoint, r.IAMEndpoint, "the IAM password")
}

// checkBaseURL: an http(s) URL with a host and no query, and plain http only to loopback unless allowed.
func (r *sourceCheck) checkBaseURL(variable, raw, sent string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		r.bad("%s is not an http(s) URL", r.value(variable, raw))
	case u.RawQuery != "":
		r.bad("%s is not a base URL: remove the query (?%s)", r.value(variable, raw), u.RawQuery)
	case u.Scheme == "http" && !r.allowHTTP && !fetch.IsLoopback(u.Hostname()):
		r.bad("%s: plain http to a host other than loopback sends %s in clear text: "+
			"use https, or set %s=true to accept it", r.value(variable, raw), sent, EnvAllowInsecureHTTP)
	}
}

// checkCredentials: AK and SK both, or the IAM user's three settings.
func checkCredentials(r *sourceCheck) {
	switch {
	case r.AuthMode() == "aksk":
		if r.AK == "" {
			r.bad("%s is set but %s is not: set both", r.name(EnvSK), r.name(EnvAK))
		}
		if r.SK == "" {
			r.bad("%s is set but %s is not: set both (%s)", r.name(EnvAK), r.name(EnvSK), r.secretHint(EnvSK))
		}
	case r.tokenAuth():
		if r.Username == "" {
			r.bad("%s is not set (token authentication needs user, password and account)", r.name(EnvUsername))
		}
		if r.Password == "" {
			r.bad("%s is not set (%s)", r.name(EnvPassword), r.secretHint(EnvPassword))
		}
		if r.DomainName == "" {
			r.bad("%s is not set: the account (domain) name the IAM user belongs to", r.name(EnvDomainName))
		}
	default:
		r.bad("no credentials: set %s and %s, or %s, %s and %s", r.name(EnvAK), r.name(EnvSK),
			r.name(EnvUsername), r.name(EnvPassword), r.name(EnvDomainName))
	}
}

func checkSchedule(r *sourceCheck) {
	// The parser of the daemon's scheduler (cron.New's default): five fields, or a descriptor such as
	// @hourly or @every 1m30s, optionally prefixed by CRON_TZ=Zone.
	if _, err := cron.ParseStandard(r.Schedule); err != nil {
		r.bad("%s: %v (examples: \"*/5 * * * *\", \"@every 10m\", \"@hourly\")", r.value(EnvSchedule, r.Schedule), err)
	}
}

// checkPerPage: a page size the endpoint accepts; unset, the largest up to DefaultPerPage.
func checkPerPage(r *sourceCheck) {
	if !r.isSet(EnvPerPage) {
		r.PerPage = cmp.Or(r.PerPage, min(DefaultPerPage, max(r.MaxPerPage, 1)))
	}
	if r.PerPage < 1 || r.PerPage > r.MaxPerPage {
		r.bad("%s must be between 1 and %d (%s), got %d", r.name(EnvPerPage), r.MaxPerPage, r.name(EnvMaxPerPage), r.PerPage)
	}
}

// validID says whether id can be a project or workspace id: letters, digits, - and _, at most 64.
// A project id goes into the request path as is, so anything that would change the path (/, .., %,
// ?) is refused before a request is sent.
func validID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
