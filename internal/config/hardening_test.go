package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// A region is a region name: one that would make the endpoints name another host is refused, and no
// endpoint is made from it.
func TestRegionValidated(t *testing.T) {
	env := map[string]string{EnvProjectID: "p", EnvAK: "ak", EnvSK: "sk"}
	for region, ok := range map[string]bool{
		"cn-north-4": true, "ap-southeast-1": true, "la-south-2": true,
		"cn-north-4.myhuaweicloud.com@127.0.0.2:18082#": false, "cn-north-4/evil": false, "CN-NORTH-4": false,
		"cn--north": false, "-cn": false, "cn north": false, strings.Repeat("a", 33): false,
	} {
		c, err := Load(envOf(with(env, EnvRegion, region)))
		if err == nil {
			err = c.Validate()
		}
		switch {
		case ok && err != nil:
			t.Errorf("region %q: %v", region, err)
		case !ok && (err == nil || !strings.Contains(err.Error(), EnvRegion) || !strings.Contains(err.Error(), "is not a region")):
			t.Errorf("region %q: error %v, want one naming %s", region, err, EnvRegion)
		case !ok && strings.Contains(c.Sources[0].Endpoint, "@"):
			t.Errorf("region %q: an endpoint was made from it: %s", region, c.Sources[0].Endpoint)
		}
	}
}

// A secret file that is a named pipe does not hang the start: with no writer it is an error at once,
// with a writer its content is read (bash's <(...) gives one).
func TestSecretFilePipeDoesNotHang(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvProjectID: "p", EnvEndpoint: "https://m.example.com", EnvAK: "ak", EnvSK + "_FILE": fifo}
	done := make(chan error, 1)
	go func() { _, err := Load(envOf(env)); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), EnvSK+"_FILE") {
			t.Errorf("a FIFO nothing writes to: error %v, want one naming the pipe and %s_FILE", err, EnvSK)
		}
	case <-time.After(time.Minute):
		t.Fatal("Load hangs on a FIFO nothing writes to")
	}

	// bash's <(...): a pipe its writer already holds, read through /proc/self/fd.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("pipe-secret\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := Load(envOf(with(env, EnvSK+"_FILE", fmt.Sprintf("/proc/self/fd/%d", r.Fd()))))
	if err != nil || c.Sources[0].SK != "pipe-secret" {
		t.Errorf("a pipe with its secret written: %v, SK %q; want pipe-secret", err, c.Sources[0].SK)
	}
}

// Secret files other users may read are reported (a warning the commands log), others not.
func TestSecretFilePermissionsReported(t *testing.T) {
	dir := t.TempDir()
	open, closed := filepath.Join(dir, "open"), filepath.Join(dir, "closed")
	for path, mode := range map[string]os.FileMode{open: 0o644, closed: 0o600} {
		if err := os.WriteFile(path, []byte("s\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	yaml := "sources:\n  - name: a\n    project_id: p\n    endpoint: https://m.example.com\n    ak: {env: AK}\n    sk: {file: open}\n" +
		"  - name: b\n    project_id: q\n    endpoint: https://m.example.com\n    ak: {env: AK}\n    sk: {file: closed}\n"
	cfg := filepath.Join(dir, "sources.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{EnvConfigFile: cfg, "AK": "ak", EnvDatabaseURL + "_FILE": open}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{EnvDatabaseURL + "_FILE=" + open + ": the secret file may be read by other users than its owner (mode 0644)",
		"sk: {file: open}: the secret file may be read by other users than its owner (mode 0644)"}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings %q, want %d", c.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(c.Warnings[i], w) {
			t.Errorf("warning %q, want it to start with %q", c.Warnings[i], w)
		}
	}
}
