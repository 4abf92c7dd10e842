package simulator

// Item mangling: how the fault layer turns well-formed items of a list answer into malformed ones
// (Faults.BadItems), and moves items across pages (Faults.DuplicateAcrossPages).

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// rewriteList applies the item-level faults to a list answer.
func (fs *faultState) rewriteList(body []byte, q url.Values, f Faults) []byte {
	if len(f.BadItems) == 0 && !f.DuplicateAcrossPages && f.LieTotalBy == 0 {
		return body
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	var items []json.RawMessage
	if json.Unmarshal(obj["jobs"], &items) != nil {
		return body
	}
	if f.DuplicateAcrossPages && len(items) > 0 {
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		q.Del("page")
		key := q.Encode()
		last := items[len(items)-1]
		fs.mu.Lock()
		if prev, ok := fs.lastItem[key]; ok && prev.page == page-1 {
			items[0] = prev.raw
		}
		fs.lastItem[key] = pageItem{page: page, raw: last}
		fs.mu.Unlock()
	}
	for i, it := range items {
		if kind := f.badKind(it); kind != "" {
			items[i] = mangle(it, kind)
		}
	}
	list := []byte{'['}
	for i, it := range items {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, it...)
	}
	obj["jobs"] = append(list, ']')
	if f.LieTotalBy != 0 {
		var total int64
		if json.Unmarshal(obj["job_total_count"], &total) == nil {
			obj["job_total_count"] = json.RawMessage(strconv.FormatInt(total+int64(f.LieTotalBy), 10))
		}
	}
	return joinObject(obj)
}

// joinObject writes a JSON object of raw values, keys sorted, without
// re-validating the values (they come from a parsed document).
func joinObject(obj map[string]json.RawMessage) []byte {
	var b []byte
	for i, k := range slices.Sorted(maps.Keys(obj)) {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = append(b, obj[k]...)
	}
	if b == nil {
		return []byte("{}")
	}
	return append(b, '}')
}

// badKind returns the kind of fault item it gets, or "".
func (f Faults) badKind(item json.RawMessage) string {
	if len(f.BadItems) == 0 || f.BadItemEvery <= 0 {
		return ""
	}
	var j struct {
		ID *int64 `json:"job_id"`
	}
	if json.Unmarshal(item, &j) != nil || j.ID == nil {
		return ""
	}
	if len(f.BadItemIDs) > 0 {
		if i := slices.Index(f.BadItemIDs, *j.ID); i >= 0 {
			return f.BadItems[i%len(f.BadItems)]
		}
		return ""
	}
	if *j.ID%int64(f.BadItemEvery) != 0 {
		return ""
	}
	return f.BadItems[(*j.ID/int64(f.BadItemEvery))%int64(len(f.BadItems))]
}

// BadKind returns the kind of malformed item f makes of the job with this
// id, or "" when f leaves it alone: tests predict which jobs a sync under
// faults cannot decode.
func (f Faults) BadKind(id int64) string {
	f = f.withDefaults()
	return f.badKind(json.RawMessage(`{"job_id":` + strconv.FormatInt(id, 10) + `}`))
}

// mangle makes one item malformed in the way kind says.
func mangle(item json.RawMessage, kind string) json.RawMessage {
	if kind == BadNotObject {
		return append(append(json.RawMessage{'['}, item...), ']')
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(item, &obj) != nil {
		return item
	}
	switch kind {
	case BadWrongType:
		obj["status"] = quoteRaw(obj["status"])
	case BadIDType:
		obj["job_id"] = quoteRaw(obj["job_id"])
	case BadMissingID:
		delete(obj, "job_id")
	case BadNegativeDuration:
		var d int64
		_ = json.Unmarshal(obj["duration"], &d)
		obj["duration"] = json.RawMessage(strconv.FormatInt(-d-1000, 10))
	case BadHugeDesc:
		obj["job_desc"] = hugeDescJSON()
	}
	return joinObject(obj)
}

func quoteRaw(raw json.RawMessage) json.RawMessage {
	b, _ := encode(string(bytes.TrimSpace(raw)))
	return b
}

// HugeDescription is the job_desc a BadHugeDesc item carries: 1 MiB (to
// within a character) of text mixing ASCII, Chinese, emoji, quotes,
// backslashes and newlines.
var HugeDescription = sync.OnceValue(func() string {
	const pattern = "TensorBoard 可视化作业 \"quoted\" C:\\runs\\exp 🚀 <b>&amp;</b>\ttab\nnext line; "
	var b strings.Builder
	b.Grow(hugeDescBytes + len(pattern))
	for b.Len()+len(pattern) <= hugeDescBytes {
		b.WriteString(pattern)
	}
	for _, r := range pattern {
		if b.Len()+len(string(r)) > hugeDescBytes {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
})

var hugeDescJSON = sync.OnceValue(func() json.RawMessage {
	b, _ := encode(HugeDescription())
	return b
})
