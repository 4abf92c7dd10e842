package fetch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Huawei Cloud's APIG signature (SDK-HMAC-SHA256), written by hand because the
// official SDK (huaweicloud-sdk-go-v3) pulls in hundreds of generated service
// packages for one 80-line algorithm. The canonical forms follow the official
// Go SDK's core/auth/signer; the tests reproduce its published test vectors.

const (
	// SignAlgorithm is the scheme name in the Authorization header.
	SignAlgorithm = "SDK-HMAC-SHA256"
	// HeaderSdkDate carries the signing time.
	HeaderSdkDate = "X-Sdk-Date"
	// SdkDateFormat is the layout of X-Sdk-Date (always UTC).
	SdkDateFormat = "20060102T150405Z"
)

// Signer signs requests with an access key / secret key pair.
type Signer struct {
	AK string
	SK string
}

// String never prints the secret key.
func (s Signer) String() string { return fmt.Sprintf("Signer{AK:%s}", s.AK) }

// GoString never prints the secret key.
func (s Signer) GoString() string { return s.String() }

// Sign adds X-Sdk-Date (when missing) and Authorization to req. Every header
// already present on req is signed, so callers set X-Project-Id and
// X-Security-Token before calling Sign. The request body must be given
// separately (nil for none) because req.Body is a stream.
func (s Signer) Sign(req *http.Request, body []byte, now time.Time) {
	if req.Header.Get(HeaderSdkDate) == "" {
		req.Header.Set(HeaderSdkDate, now.UTC().Format(SdkDateFormat))
	}
	signed := SignedHeaderNames(req.Header)
	sig := Signature(s.SK, StringToSign(CanonicalRequest(req, signed, body), req.Header.Get(HeaderSdkDate)))
	req.Header.Set("Authorization", fmt.Sprintf("%s Access=%s, SignedHeaders=%s, Signature=%s",
		SignAlgorithm, s.AK, strings.Join(signed, ";"), sig))
}

// SignedHeaderNames returns the sorted lower-case names of every header in h
// except Authorization (which cannot sign itself).
func SignedHeaderNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		lk := strings.ToLower(k)
		if lk == "authorization" || lk == "content-length" {
			continue
		}
		names = append(names, lk)
	}
	sort.Strings(names)
	return names
}

// CanonicalRequest builds the canonical request of the signing guide. Host is
// taken from req.Host (else req.URL.Host) when "host" is among signed.
func CanonicalRequest(req *http.Request, signed []string, body []byte) string {
	sum := sha256.Sum256(body)
	return strings.Join([]string{
		req.Method,
		CanonicalURI(req.URL.EscapedPath()),
		CanonicalQuery(req.URL.Query()),
		CanonicalHeaders(req, signed),
		strings.Join(signed, ";"),
		hex.EncodeToString(sum[:]),
	}, "\n")
}

// CanonicalURI escapes each segment of an (escaped or plain) path and appends
// a trailing slash, as the gateway does before verifying.
func CanonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
		segs[i] = Escape(seg)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// CanonicalQuery sorts keys, and the values of a repeated key, and escapes both.
func CanonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, Escape(k)+"="+Escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// CanonicalHeaders writes "name:trimmed-value\n" for each signed header.
func CanonicalHeaders(req *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var v string
		if name == "host" {
			v = req.Host
			if v == "" {
				v = req.URL.Host
			}
			if hv := req.Header.Get("Host"); hv != "" {
				v = hv
			}
		} else {
			v = strings.Join(req.Header.Values(name), ",")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.TrimSpace(v))
		b.WriteByte('\n')
	}
	return b.String()
}

// StringToSign joins the algorithm, the date and the hash of the canonical request.
func StringToSign(canonicalRequest, sdkDate string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return SignAlgorithm + "\n" + sdkDate + "\n" + hex.EncodeToString(sum[:])
}

// Signature is hex(HMAC-SHA256(sk, stringToSign)).
func Signature(sk, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// Escape keeps A-Z a-z 0-9 _ - ~ . and writes every other byte as %XX.
func Escape(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

// ParseAuthorization splits an SDK-HMAC-SHA256 Authorization header into its
// access key, signed header names and signature. Used by the simulator to
// verify requests as the gateway does.
func ParseAuthorization(h string) (ak string, signed []string, sig string, err error) {
	rest, ok := strings.CutPrefix(h, SignAlgorithm+" ")
	if !ok {
		return "", nil, "", fmt.Errorf("authorization scheme is not %s", SignAlgorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Access":
			ak = v
		case "SignedHeaders":
			if v != "" {
				signed = strings.Split(v, ";")
			}
		case "Signature":
			sig = v
		}
	}
	if ak == "" || sig == "" || len(signed) == 0 {
		return "", nil, "", fmt.Errorf("authorization header lacks Access, SignedHeaders or Signature")
	}
	return ak, signed, sig, nil
}
