package simulator

// The --faults syntax of `indexer simulate` and POST /_sim/faults.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseFaults reads the --faults flag of `indexer simulate`: comma-separated
// key=value settings named after the Faults fields, e.g.
//
//	throttle-every=3,retry-after=2s,retry-after-date,server-error-every=5,
//	bad-items=wrong_type+missing_id,bad-item-every=40,lie-total-by=7
//
// (bad-item-ids=10234+10567 lists the jobs to mangle instead of bad-item-every)
//
// Boolean keys (retry-after-date, duplicate-across-pages) may omit "=true";
// several bad item kinds are joined with "+".
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	ints := map[string]*int{
		"throttle-every": &f.ThrottleEvery, "server-error-every": &f.ServerErrorEvery,
		"server-error-status": &f.ServerErrorStatus, "truncate-every": &f.TruncateEvery,
		"slow-every": &f.SlowEvery, "reset-every": &f.ResetEvery,
		"wrong-content-type-every": &f.WrongContentTypeEvery, "html-page-every": &f.HTMLPageEvery,
		"expire-tokens-after": &f.ExpireTokensAfter, "bad-item-every": &f.BadItemEvery, "lie-total-by": &f.LieTotalBy,
	}
	durations := map[string]*time.Duration{"retry-after": &f.RetryAfter, "slow-delay": &f.SlowDelay}
	bools := map[string]*bool{"retry-after-date": &f.RetryAfterHTTPDate, "duplicate-across-pages": &f.DuplicateAcrossPages}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, hasValue := strings.Cut(part, "=")
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		var err error
		switch {
		case ints[key] != nil:
			*ints[key], err = strconv.Atoi(value)
		case durations[key] != nil:
			*durations[key], err = time.ParseDuration(value)
		case bools[key] != nil:
			*bools[key] = true
			if hasValue {
				*bools[key], err = strconv.ParseBool(value)
			}
		case key == "throttle-code":
			f.ThrottleCode = value
		case key == "bad-items":
			f.BadItems = strings.Split(value, "+")
		case key == "bad-item-ids":
			for _, v := range strings.Split(value, "+") {
				id, perr := strconv.ParseInt(v, 10, 64)
				if perr != nil {
					err = perr
				}
				f.BadItemIDs = append(f.BadItemIDs, id)
			}
		default:
			return Faults{}, fmt.Errorf("faults: unknown setting %q", key)
		}
		if err != nil {
			return Faults{}, fmt.Errorf("faults: %s: %q is not valid", key, value)
		}
	}
	return f, f.Validate()
}
