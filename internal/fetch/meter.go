package fetch

import (
	"context"
	"sync/atomic"
)

// Kinds of HTTP request a Meter counts.
const (
	KindList   = "list"   // the list call without search_content
	KindSearch = "search" // the list call with search_content (a name search)
	KindDetail = "detail" // the detail call
	KindToken  = "token"  // an IAM token request
)

// Meter counts the HTTP requests a client sends on behalf of one context: every attempt, the list,
// detail and search calls of ModelArts and the token requests of IAM, retries included. A caller
// that wants the requests of a unit of work (a sync run) attaches a Meter to the work's context with
// WithMeter; every call made with that context, or one derived from it, is counted where it is sent,
// so no caller sums counts by hand and a new call is counted without a change (compare
// net/http/httptrace, which attaches a trace to a request's context the same way). A Meter is safe
// for concurrent use; its zero value counts from zero.
type Meter struct {
	list, search, detail, token atomic.Int64
	retries                     atomic.Int64
}

// Counts are a Meter's figures at one moment.
type Counts struct {
	List, Search, Detail, Token int // requests sent, by kind, retries included
	Retries                     int // requests that repeated a failed one of the same call (token renewals included)
}

// Requests is every request sent, of every kind.
func (c Counts) Requests() int { return c.List + c.Search + c.Detail + c.Token }

// Counts returns the figures so far.
func (m *Meter) Counts() Counts {
	return Counts{List: int(m.list.Load()), Search: int(m.search.Load()), Detail: int(m.detail.Load()),
		Token: int(m.token.Load()), Retries: int(m.retries.Load())}
}

// sent counts one request of kind; retry says it repeats a failed request of the same call.
func (m *Meter) sent(kind string, retry bool) {
	if m == nil {
		return
	}
	switch kind {
	case KindList:
		m.list.Add(1)
	case KindSearch:
		m.search.Add(1)
	case KindDetail:
		m.detail.Add(1)
	case KindToken:
		m.token.Add(1)
	}
	if retry {
		m.retries.Add(1)
	}
}

type meterKey struct{}

// WithMeter returns a copy of ctx whose requests m counts (see Meter).
func WithMeter(ctx context.Context, m *Meter) context.Context {
	return context.WithValue(ctx, meterKey{}, m)
}

// meterOf returns the Meter attached to ctx, or nil (nothing is counted).
func meterOf(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterKey{}).(*Meter)
	return m
}
