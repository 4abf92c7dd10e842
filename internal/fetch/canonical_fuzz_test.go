package fetch

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzCanonical checks the signer's canonical forms on any input: they never panic, they do not depend
// on map order (two calls agree), Escape writes only unreserved characters and upper-case %XX and can
// be undone, CanonicalURI keeps the segments and ends in a slash, CanonicalQuery lists every value once,
// sorted by key then value, and a signed request verifies with the canonical request rebuilt from what
// was sent.
func FuzzCanonical(f *testing.F) {
	for _, seed := range []struct{ path, query, s string }{
		{"/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs", "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0", "13551d6b-755d-4757-b956-536f674975c0"},
		{"/path", "limit=1", "AccessKey"},
		{"/v1/p/visualization-jobs", "page=1&per_page=100&sortBy=create_time&order=asc", "create_time"},
		{"/a b/c%2Fd/", "search_content=%E5%8F%AF%E8%A7%86%E5%8C%96+tb&b=2&b=1&a=", "可视化 tb"},
		{"//x//", "k=v;w&%zz=1&=&&", "\x00\xff~_-.!*'()"},
		{"", "", ""},
	} {
		f.Add(seed.path, seed.query, seed.s)
	}
	f.Fuzz(func(t *testing.T, path, rawQuery, s string) {
		e := Escape(s)
		if e != Escape(s) {
			t.Fatalf("Escape(%q) is not deterministic", s)
		}
		checkEscaped(t, e, "")
		if u, err := url.PathUnescape(e); err != nil || u != s {
			t.Fatalf("Escape(%q) = %q does not unescape back (%q, %v)", s, e, u, err)
		}

		uri := CanonicalURI(path)
		if uri != CanonicalURI(path) || !strings.HasSuffix(uri, "/") {
			t.Fatalf("CanonicalURI(%q) = %q: not deterministic or no trailing slash", path, uri)
		}
		checkEscaped(t, uri, "/")
		want := strings.Count(path, "/")
		if !strings.HasSuffix(path, "/") {
			want++ // the slash appended for signing
		}
		if strings.Count(uri, "/") != want {
			t.Fatalf("CanonicalURI(%q) = %q: segments changed", path, uri)
		}

		q, _ := url.ParseQuery(rawQuery) // what parsed, even if some did not
		cq := CanonicalQuery(q)
		if cq != CanonicalQuery(q) {
			t.Fatalf("CanonicalQuery(%v) is not deterministic", q)
		}
		total := 0
		for _, vs := range q {
			total += len(vs)
		}
		var parts []string
		if cq != "" {
			parts = strings.Split(cq, "&")
		}
		if len(parts) != total {
			t.Fatalf("CanonicalQuery(%v) = %q: %d parts for %d values", q, cq, len(parts), total)
		}
		type kv struct{ k, v string }
		var got []kv
		for _, p := range parts {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				t.Fatalf("part %q of %q has no =", p, cq)
			}
			checkEscaped(t, k, "")
			checkEscaped(t, v, "")
			uk, _ := url.PathUnescape(k)
			uv, _ := url.PathUnescape(v)
			got = append(got, kv{uk, uv})
		}
		if !slices.IsSortedFunc(got, func(a, b kv) int {
			return strings.Compare(a.k+"\x00"+a.v, b.k+"\x00"+b.v)
		}) && !slices.IsSortedFunc(got, func(a, b kv) int {
			if c := strings.Compare(a.k, b.k); c != 0 {
				return c
			}
			return strings.Compare(a.v, b.v)
		}) {
			t.Fatalf("CanonicalQuery(%v) = %q is not sorted by key then value", q, cq)
		}

		// Sign a request and verify it as the gateway does, from what was sent.
		req, err := http.NewRequest(http.MethodGet, "http://modelarts.example.com"+path, nil)
		if err != nil || req.URL.Host != "modelarts.example.com" {
			return
		}
		req.URL.RawQuery = cq
		req.Header.Set("X-Project-Id", s)
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		signer := Signer{AK: "AK", SK: "SK"}
		signer.Sign(req, nil, now)
		first := req.Header.Get("Authorization")
		signer.Sign(req, nil, now)
		if req.Header.Get("Authorization") != first {
			t.Fatalf("signing twice gave two signatures")
		}
		ak, signed, sig, err := ParseAuthorization(first)
		if err != nil || ak != "AK" {
			t.Fatalf("ParseAuthorization(%q) = %q, %v", first, ak, err)
		}
		wantSig := Signature("SK", StringToSign(CanonicalRequest(req, signed, nil), req.Header.Get(HeaderSdkDate)))
		if sig != wantSig {
			t.Fatalf("signature %s does not verify (want %s)", sig, wantSig)
		}
	})
}

// checkEscaped fails unless s holds only unreserved characters, upper-case %XX escapes and the bytes
// of allowed.
func checkEscaped(t *testing.T, s, allowed string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', strings.IndexByte("_-~.", c) >= 0:
		case strings.IndexByte(allowed, c) >= 0:
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			i += 2
		default:
			t.Fatalf("%q holds %q at %d: not unreserved, not %%XX", s, c, i)
		}
	}
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
