package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadValidate(t *testing.T) {
	dir := t.TempDir()
	skFile := filepath.Join(dir, "sk")
	if err := os.WriteFile(skFile, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings; none = valid
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "aksk with region derives endpoint and name",
			env:  map[string]string{EnvProjectID: "p1", EnvRegion: "cn-north-4", EnvAK: "ak", EnvSK: "sk"},
			check: func(t *testing.T, c *Config) {
				s := c.Sources[0]
				if s.Endpoint != "https://modelarts.cn-north-4.myhuaweicloud.com" || s.Name != "p1" || s.AuthMode() != "aksk" {
					t.Errorf("got %+v", s)
				}
				if s.PerPage != 100 || s.Schedule != DefaultSchedule || c.MaxWalks != 3 || c.SeenRefresh != 24*time.Hour {
					t.Errorf("defaults not applied: %+v %+v", s, c)
				}
			},
		},
		{
			name: "ap-southeast-1 is served under .cn",
			env: map[string]string{EnvProjectID: "p", EnvRegion: "ap-southeast-1", EnvUsername: "u", EnvPassword: "pw",
				EnvDomainName: "d"},
			check: func(t *testing.T, c *Config) {
				s := c.Sources[0]
				if s.Endpoint != "https://modelarts.ap-southeast-1.myhuaweicloud.cn" || s.IAMEndpoint != "https://iam.ap-southeast-1.myhuaweicloud.cn" || s.AuthMode() != "token" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "database url precedence and secret from file",
			env: map[string]string{EnvDatabaseURL: "postgres://a", EnvDatabaseURLAlt: "postgres://b", EnvProjectID: "p",
				EnvEndpoint: "http://127.0.0.1:8081", EnvAK: "ak", EnvSK + "_FILE": skFile, EnvSource: "prod"},
			check: func(t *testing.T, c *Config) {
				if c.DatabaseURL != "postgres://a" || c.Sources[0].SK != "file-secret" || c.Sources[0].Name != "prod" {
					t.Errorf("got db %q sk-from-file %v name %q", c.DatabaseURL, c.Sources[0].SK == "file-secret", c.Sources[0].Name)
				}
			},
		},
		{
			name:    "nothing set",
			env:     map[string]string{},
			wantErr: []string{"HUAWEICLOUD_SDK_PROJECT_ID is not set", "MODELARTS_ENDPOINT", "no credentials"},
		},
		{
			name:    "ak without sk",
			env:     map[string]string{EnvProjectID: "p", EnvRegion: "r", EnvAK: "ak"},
			wantErr: []string{"HUAWEICLOUD_SDK_SK"},
		},
		{
			name:    "token without domain or iam endpoint",
			env:     map[string]string{EnvProjectID: "p", EnvEndpoint: "https://x", EnvUsername: "u", EnvPassword: "pw"},
			wantErr: []string{"HUAWEICLOUD_DOMAIN_NAME is not set", "HUAWEICLOUD_IAM_ENDPOINT"},
		},
		{
			name:    "bad numbers and endpoint",
			env:     map[string]string{EnvProjectID: "p", EnvEndpoint: "ftp://x", EnvAK: "a", EnvSK: "s", EnvPerPage: "500", EnvMaxDeleteShare: "2", EnvLogLevel: "loud"},
			wantErr: []string{"not an http(s) URL", "INDEXER_PER_PAGE must be between 1 and 100", "INDEXER_MAX_DELETE_SHARE", "INDEXER_LOG_LEVEL"},
		},
		{
			name:    "both a secret and its file",
			env:     map[string]string{EnvSK: "x", EnvSK + "_FILE": skFile},
			wantErr: []string{"both HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_SK_FILE are set"},
		},
		{
			name:    "missing secret file",
			env:     map[string]string{EnvPassword + "_FILE": filepath.Join(dir, "nope")},
			wantErr: []string{"HUAWEICLOUD_PASSWORD_FILE: cannot read the secret file"},
		},
		{
			name: "a workspace",
			env:  map[string]string{EnvProjectID: "p", EnvRegion: "cn-north-4", EnvAK: "ak", EnvSK: "sk", EnvWorkspaceID: " ws-1 "},
			check: func(t *testing.T, c *Config) {
				if c.Sources[0].WorkspaceID != "ws-1" {
					t.Errorf("workspace %q, want ws-1", c.Sources[0].WorkspaceID)
				}
			},
		},
		{
			name:    "a workspace id that is not one",
			env:     map[string]string{EnvProjectID: "p", EnvRegion: "cn-north-4", EnvAK: "ak", EnvSK: "sk", EnvWorkspaceID: "ws 1"},
			wantErr: []string{`source p: MODELARTS_WORKSPACE_ID="ws 1" is not a workspace id`},
		},
		{
			name:    "not an integer",
			env:     map[string]string{EnvMaxWalks: "three"},
			wantErr: []string{`INDEXER_MAX_WALKS="three" is not an integer`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(envOf(tt.env))
			if err == nil {
				err = c.Validate()
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Load(envOf(map[string]string{EnvProjectID: "p", EnvRegion: "r", EnvAK: "ak", EnvSK: "SUPERSECRET",
		EnvSecurityToken: "STSTOKEN", EnvPassword: "PASSWORD1"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.Sources[0].String(), c.Sources[0].GoString()} {
		for _, secret := range []string{"SUPERSECRET", "STSTOKEN", "PASSWORD1"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q contains a secret", s)
			}
		}
	}
}
