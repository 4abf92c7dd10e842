package fetch

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// FuzzSplit: on any valid JSON, objectFields, arrayItems and jsonString agree with encoding/json
// decoding into map[string]json.RawMessage, []json.RawMessage and string: the same names (escapes,
// duplicates and invalid UTF-8 included), the same bytes for every member and item.
func FuzzSplit(f *testing.F) {
	for _, seed := range []string{
		`{"job_id":1,"job_name":"a","x":{"y":[1,{"z":"]}"}]},"s":"q\"uo\\te","n":null,"t":true,"f":-1.5e3}`,
		` { "a" : [ ] , "b" : { } , "a" : "last" } `,
		`{"job\u005fid":7,"\u00e9":"\u00e9","k\ud800":"lone surrogate","bad\xff":"\xff"}`,
		`[1, "two", [3], {"four": 4}, null, true, false, -0.5]`,
		`[]`, `{}`, `"plain"`, `"esc\n\t\u0041"`, `"\xfe\xff"`, `123`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if !json.Valid(v) {
			return
		}
		var wantObj map[string]json.RawMessage
		objErr := json.Unmarshal(v, &wantObj)
		gotObj, ok := objectFields(v)
		switch {
		case ok != (objErr == nil && wantObj != nil):
			t.Fatalf("objectFields(%q): ok %v, encoding/json: %v, %v", v, ok, wantObj, objErr)
		case ok && !maps.EqualFunc(gotObj, wantObj, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }):
			t.Fatalf("objectFields(%q) = %q, encoding/json %q", v, gotObj, wantObj)
		}
		var wantArr []json.RawMessage
		arrErr := json.Unmarshal(v, &wantArr)
		gotArr, ok := arrayItems(v)
		switch {
		case ok != (arrErr == nil && wantArr != nil):
			t.Fatalf("arrayItems(%q): ok %v, encoding/json: %v, %v", v, ok, wantArr, arrErr)
		case ok && !slices.EqualFunc(gotArr, wantArr, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }):
			t.Fatalf("arrayItems(%q) = %q, encoding/json %q", v, gotArr, wantArr)
		}
		if tok := bytes.TrimSpace(v); len(tok) > 0 && tok[0] == '"' {
			var want string
			if err := json.Unmarshal(tok, &want); err != nil {
				t.Fatal(err)
			}
			if got := jsonString(tok); got != want {
				t.Fatalf("jsonString(%q) = %q, encoding/json %q", tok, got, want)
			}
		}
	})
}
