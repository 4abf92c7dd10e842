package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlainHTTPRefusedOffLoopback: http:// endpoints (ModelArts, IAM) are refused unless on loopback
// or INDEXER_ALLOW_INSECURE_HTTP is set.
func TestPlainHTTPRefusedOffLoopback(t *testing.T) {
	aksk := func(endpoint string) map[string]string {
		return map[string]string{EnvProjectID: "p", EnvEndpoint: endpoint, EnvAK: "ak", EnvSK: "sk"}
	}
	token := func(endpoint, iam string) map[string]string {
		return map[string]string{EnvProjectID: "p", EnvEndpoint: endpoint, EnvIAMEndpoint: iam,
			EnvUsername: "u", EnvPassword: "pw", EnvDomainName: "d"}
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "https", env: aksk("https://modelarts.example.com"), wantErr: ""},
		{name: "loopback v4", env: aksk("http://127.0.0.1:8081"), wantErr: ""},
		{name: "loopback 127.x", env: aksk("http://127.1.2.3:8081"), wantErr: ""},
		{name: "loopback v6", env: aksk("http://[::1]:8081"), wantErr: ""},
		{name: "localhost", env: aksk("http://localhost:8081"), wantErr: ""},
		{name: "remote http", env: aksk("http://modelarts.example.com"), wantErr: EnvEndpoint + `="http://modelarts.example.com": plain http`},
		{name: "remote http opted in", env: with(aksk("http://modelarts.example.com"), EnvAllowInsecureHTTP, "true"), wantErr: ""},
		{name: "iam http", env: token("https://m.example.com", "http://iam.example.com"), wantErr: EnvIAMEndpoint + `="http://iam.example.com": plain http`},
		{name: "iam http opted in", env: with(token("https://m.example.com", "http://iam.example.com"), EnvAllowInsecureHTTP, "yes"), wantErr: ""},
		{name: "iam loopback", env: token("https://m.example.com", "http://127.0.0.1:1"), wantErr: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(envOf(tc.env))
			if err == nil {
				err = c.Validate()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), EnvAllowInsecureHTTP):
				t.Fatalf("error does not name the opt-in: %v", err)
			}
		})
	}
}

func with(m map[string]string, k, v string) map[string]string {
	m[k] = v
	return m
}

// TestSecretFilesCapped: *_FILE and {file: PATH} secrets larger than MaxSecretFileBytes are refused
// with an error that says so (a wrong path, /dev/zero, is not read for ever).
func TestSecretFilesCapped(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSecretFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte(strings.Repeat("s", MaxSecretFileBytes-1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvProjectID: "p", EnvEndpoint: "https://m.example.com", EnvAK: "ak"}
	for _, path := range []string{big, "/dev/zero"} {
		_, err := Load(envOf(with(with(env, EnvSK, ""), EnvSK+"_FILE", path)))
		if err == nil || !strings.Contains(err.Error(), "larger than 64 KiB") || !strings.Contains(err.Error(), EnvSK+"_FILE") {
			t.Errorf("%s: error %v, want one saying the file is larger than 64 KiB", path, err)
		}
	}
	if c, err := Load(envOf(with(env, EnvSK+"_FILE", ok))); err != nil || len(c.Sources[0].SK) != MaxSecretFileBytes-1 {
		t.Errorf("a secret file within the cap: %v", err)
	}

	cfg := filepath.Join(dir, "sources.yaml")
	yaml := "sources:\n  - name: a\n    project_id: p\n    endpoint: https://m.example.com\n    ak: {env: AK}\n    sk: {file: big}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(envOf(map[string]string{EnvConfigFile: cfg, "AK": "ak"}))
	if err == nil || !strings.Contains(err.Error(), "{file: big}") || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Errorf("{file: big}: error %v, want one saying the file is larger than 64 KiB", err)
	}
}
