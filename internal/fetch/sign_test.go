package fetch

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		headers map[string]string
		ak, sk  string
		want    string
	}{
		{
			name: "signing guide",
			url:  "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
			headers: map[string]string{
				"Content-Type": "application/json",
				"Host":         "service.region.example.com",
				"X-Sdk-Date":   "20191115T033655Z",
			},
			ak: "QTWAOYTTINDUT2QVKYUC", sk: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
			want: "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
		},
		{
			name:    "official Go SDK",
			url:     "https://example.com/path?limit=1",
			headers: map[string]string{"X-Sdk-Date": "20060102T150405Z"},
			ak:      "AccessKey", sk: "SecretKey",
			want: "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			Signer{AK: tt.ak, SK: tt.sk}.Sign(req, nil, time.Now())
			auth := req.Header.Get("Authorization")
			if !strings.HasSuffix(auth, "Signature="+tt.want) {
				t.Fatalf("Authorization = %q, want signature %s", auth, tt.want)
			}
			if !strings.HasPrefix(auth, "SDK-HMAC-SHA256 Access="+tt.ak+", SignedHeaders=") {
				t.Fatalf("Authorization = %q, want access key %s", auth, tt.ak)
			}
			ak, signed, sig, err := ParseAuthorization(auth)
			if err != nil || ak != tt.ak || sig != tt.want || len(signed) != len(tt.headers) {
				t.Fatalf("ParseAuthorization(%q) = %q %v %q %v", auth, ak, signed, sig, err)
			}
		})
	}
}

func TestEscapeAndCanonicalForms(t *testing.T) {
	if got, want := Escape("a b/é~_-.*"), "a%20b%2F%C3%A9~_-.%2A"; got != want {
		t.Errorf("Escape = %q, want %q", got, want)
	}
	if got, want := CanonicalURI("/v1/p/visualization-jobs"), "/v1/p/visualization-jobs/"; got != want {
		t.Errorf("CanonicalURI = %q, want %q", got, want)
	}
	if got, want := CanonicalURI("/v1/a%20b/"), "/v1/a%20b/"; got != want {
		t.Errorf("CanonicalURI escaped = %q, want %q", got, want)
	}
	q := map[string][]string{"b": {"2", "1"}, "a": {"x y"}, "search_content": {"测"}}
	if got, want := CanonicalQuery(q), "a=x%20y&b=1&b=2&search_content=%E6%B5%8B"; got != want {
		t.Errorf("CanonicalQuery = %q, want %q", got, want)
	}
	if s := (Signer{AK: "ak", SK: "topsecret"}).String(); strings.Contains(s, "topsecret") {
		t.Errorf("Signer.String leaks the secret key: %s", s)
	}
}
