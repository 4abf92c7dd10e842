package fetch

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The rule for "the ModelArts service says this job does not exist". It is
// the only place where an error answer becomes evidence of a deletion, so it
// is strict: anything it does not recognise leaves the job live.
//
// What the documentation leaves open: the detail call's answer for a missing
// job. Seen or plausible answers, and what the rule makes of them:
//
//	404 {"error_code":"ModelArts.0105","error_msg":"Job does not exist"}        not found
//	400 {"error_code":"ModelArts.2764","error_msg":"Visualization job (ID: 7) not found."}  not found (the training-job family's convention)
//	404 {"error_code":"APIG.0101","error_msg":"The API does not exist ..."}     no evidence: the gateway has no such route
//	404 <html>Not Found</html> (a proxy)                                        no evidence: not ModelArts JSON
//	400 {"error_code":"ModelArts.0104","error_msg":"Invalid parameter job_id"}  no evidence: the message does not say "not found"
//	5xx, 429, timeouts, network errors                                          no evidence
//
// A recognised answer is still only a candidate for evidence: the sync
// compares its shape (HTTP status and error code) with the answer it gets, in
// the same run, for an id that cannot exist, and with the answer for a job it
// just listed (which must be the job). See syncer's evidence.go.

// NotFoundShape is what identifies a recognised not-found answer: its HTTP
// status and error code. Two answers with the same shape are the same kind
// of answer.
type NotFoundShape struct {
	HTTPStatus int
	Code       string
}

func (s NotFoundShape) String() string {
	return "http " + strconv.Itoa(s.HTTPStatus) + " " + s.Code
}

// notFoundMessage matches error messages that say the object asked for does
// not exist, in the wordings ModelArts uses across its API families.
var notFoundMessage = regexp.MustCompile(`(?i)\bnot\s+(be\s+)?found\b|\bdoes\s*n[o']t\s+exists?\b|\bnot\s+exists?\b|\bno\s+such\s+(job|visualization)`)

// JobNotFound says whether err is the ModelArts service itself (not its API
// gateway, not a proxy) answering that the job asked for does not exist, and
// with which shape: an *APIError from ModelArts (not IAM) whose body was
// JSON, with HTTP status 404 or 400, an error code in the ModelArts.*
// family, and a message that says the object was not found or does not
// exist. Everything else (APIG.*/APIGW.* codes, HTML or other non-JSON
// bodies, unknown codes or messages, 5xx, throttling, timeouts, network
// errors) is not evidence.
func JobNotFound(err error) (NotFoundShape, bool) {
	var ae *APIError
	if !errors.As(err, &ae) || ae.service != "" || ae.notJSON {
		return NotFoundShape{}, false
	}
	if ae.HTTPStatus != 404 && ae.HTTPStatus != 400 {
		return NotFoundShape{}, false
	}
	if !strings.HasPrefix(ae.Code, "ModelArts.") {
		return NotFoundShape{}, false
	}
	if !notFoundMessage.MatchString(ae.Message) {
		return NotFoundShape{}, false
	}
	return NotFoundShape{HTTPStatus: ae.HTTPStatus, Code: ae.Code}, true
}

// The sync and indexer probe learn the detail call's answers, and search by name, the same way.

// impossibleIDGap: ImpossibleJobID is this much above the largest id known, so that it cannot exist,
// yet stays within a 32-bit integer for small ids (a service that parses ids as int32 would
// otherwise answer "invalid parameter", not "not found").
const impossibleIDGap = 1_000_000_000

// ImpossibleJobID is a job id that cannot exist when maxKnown is the largest id ever listed: the id
// whose detail call shows what the service answers for a missing job.
func ImpossibleJobID(maxKnown int64) int64 { return max(maxKnown, 0) + impossibleIDGap }

// NameSearchRunes is the longest search_content a name search sends: the REST reference allows 64
// characters, the SDK reference 100.
const NameSearchRunes = 64

// NameSearch is the search_content that looks for a job named name: its first NameSearchRunes
// characters (a search may match substrings: a prefix still finds the job).
func NameSearch(name string) string {
	if utf8.RuneCountInString(name) <= NameSearchRunes {
		return name
	}
	return string([]rune(name)[:NameSearchRunes])
}
