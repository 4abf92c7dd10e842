package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a configuration file (and a secret file next to it) and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prod_sk"), []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "indexer.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadValidate(env map[string]string) (*Config, error) {
	c, err := Load(envOf(env))
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

const threeSources = `
defaults:
  schedule: "@every 10m"
sources:
  - name: prod-bj4
    region: cn-north-4
    project_id: p-bj4
    ak: AKPROD
    sk: {file: prod_sk}
    schedule: "*/2 * * * *"
    per_page: 50
    workspace_id: 0f1e2d3c4b5a69788796a5b4c3d2e1f0
  - name: prod-sh1
    region: cn-east-3
    project_id: p-sh1
    ak: {env: SH_AK}
    sk: {env: SH_SK}
    security_token: {env: SH_TOKEN}
  - project_id: p-token
    endpoint: http://127.0.0.1:8081
    iam_endpoint: http://127.0.0.1:8081
    username: robot
    password: {env: ROBOT_PASSWORD}
    domain_name: acme
`

func TestConfigFileSources(t *testing.T) {
	path := writeConfig(t, threeSources)
	c, err := loadValidate(map[string]string{
		EnvConfigFile: path, "SH_AK": "AKSH", "SH_SK": "sk-from-env", "SH_TOKEN": "sts", "ROBOT_PASSWORD": "pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConfigFile != path || len(c.Sources) != 3 {
		t.Fatalf("config file %q, %d sources", c.ConfigFile, len(c.Sources))
	}
	bj, sh, tok := c.Sources[0], c.Sources[1], c.Sources[2]
	if bj.Name != "prod-bj4" || bj.Endpoint != "https://modelarts.cn-north-4.myhuaweicloud.com" || bj.AK != "AKPROD" ||
		bj.SK != "sk-from-file" || bj.Schedule != "*/2 * * * *" || bj.PerPage != 50 || bj.MaxPerPage != 100 ||
		bj.WorkspaceID != "0f1e2d3c4b5a69788796a5b4c3d2e1f0" {
		t.Errorf("prod-bj4: %+v", bj)
	}
	if sh.Name != "prod-sh1" || sh.AK != "AKSH" || sh.SK != "sk-from-env" || sh.SecurityToken != "sts" ||
		sh.Schedule != "@every 10m" || sh.PerPage != 100 {
		t.Errorf("prod-sh1: %+v", sh)
	}
	if tok.Name != "p-token" || tok.AuthMode() != "token" || tok.Username != "robot" || tok.Password != "pw" ||
		tok.IAMEndpoint != "http://127.0.0.1:8081" {
		t.Errorf("token source: %+v", tok)
	}
	// The daemon's defaults.
	if c.HTTPAddr != DefaultHTTPAddr || c.Concurrency != 4 || c.ShutdownGrace != 30*time.Second || c.RunAtStart ||
		c.Location != time.UTC {
		t.Errorf("daemon defaults: addr %q concurrency %d grace %s at-start %v location %v",
			c.HTTPAddr, c.Concurrency, c.ShutdownGrace, c.RunAtStart, c.Location)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr []string
		notIn   []string // must not appear in the error (secrets)
	}{
		{
			name: "typo in a source names the source, the line and the key",
			yaml: "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {env: S}\n" +
				"  - name: prod-bj4\n    project_id: p2\n    region: r\n    shedule: \"@hourly\"\n",
			env:     map[string]string{"S": "s"},
			wantErr: []string{`source prod-bj4: `, `indexer.yaml:10: unknown key "shedule"`},
		},
		{
			name:    "typo at the top level",
			yaml:    "source:\n  - name: a\n",
			wantErr: []string{`indexer.yaml:1: unknown key "source"`},
		},
		{
			name:    "bad schedule names the source and the field",
			yaml:    "sources:\n  - name: prod-bj4\n    project_id: p\n    region: r\n    ak: x\n    sk: {env: S}\n    schedule: every 5m\n",
			env:     map[string]string{"S": "s"},
			wantErr: []string{`source prod-bj4: schedule "every 5m": `, "expected exactly 5 fields"},
		},
		{
			name:    "a literal secret is refused and not repeated",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: HUSH-HUSH-42\n",
			wantErr: []string{"source a: sk: a secret cannot be written in the configuration file (line 6)"},
			notIn:   []string{"HUSH-HUSH-42"},
		},
		{
			name:    "a literal password is refused",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    username: u\n    password: HUSH-HUSH-42\n    domain_name: d\n",
			wantErr: []string{"source a: password: a secret cannot be written"},
			notIn:   []string{"HUSH-HUSH-42"},
		},
		{
			name:    "a referenced variable that is not set",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {env: PROD_SK}\n",
			wantErr: []string{"source a: sk: {env: PROD_SK}: the variable is not set"},
		},
		{
			name:    "a referenced file that does not exist",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {file: nope}\n",
			wantErr: []string{"source a: sk: {file: nope}: cannot read the secret file"},
		},
		{
			name:    "a credential with both env and file",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {env: S, file: prod_sk}\n",
			wantErr: []string{"source a: ", "indexer.yaml:6: a credential is {env: VARIABLE} or {file: PATH}: give exactly one"},
		},
		{
			name:    "missing fields name the keys of the file",
			yaml:    "sources:\n  - name: a\n    ak: x\n    sk: {file: prod_sk}\n    per_page: 500\n",
			wantErr: []string{"source a: project_id is not set", "source a: no ModelArts endpoint: set endpoint", "source a: per_page must be between 1 and 100 (max_per_page), got 500"},
		},
		{
			name:    "a workspace id that is not one",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {file: prod_sk}\n    workspace_id: ../0\n",
			wantErr: []string{`source a: workspace_id "../0" is not a workspace id: letters, digits, - and _ only`},
		},
		{
			name: "two sources with one name",
			yaml: "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {file: prod_sk}\n" +
				"  - name: a\n    project_id: q\n    region: r\n    ak: x\n    sk: {file: prod_sk}\n",
			wantErr: []string{"source a: defined twice (lines 2 and 7"},
		},
		{
			name:    "no source",
			yaml:    "# nothing yet\n",
			wantErr: []string{"no source: list them under \"sources:\""},
		},
		{
			name:    "not YAML",
			yaml:    "sources: [\n",
			wantErr: []string{"INDEXER_CONFIG="},
		},
		{
			name:    "a syntax error names the line of the mistake, not the line before",
			yaml:    "sources:\n  - name: a\n    project_id: p\n  endpoint: : x\n",
			wantErr: []string{"line 4: did not find expected '-' indicator"},
			notIn:   []string{"line 1"},
		},
		{
			name:    "a tab in the indentation",
			yaml:    "sources:\n  - name: a\n\tproject_id: p\n",
			wantErr: []string{"line 3: found a tab character"},
		},
		{
			name:    "a file that is one string",
			yaml:    "just a string\n",
			wantErr: []string{`indexer.yaml:1: the file must be a mapping with a sources: list`, `not a single value ("just a string")`},
			notIn:   []string{"unmarshal", "config.fileConfig"},
		},
		{
			name:    "a source that is not a mapping",
			yaml:    "sources:\n  - prod-bj4\n",
			wantErr: []string{`indexer.yaml:2: a source is a mapping of keys (name: ..., project_id: ...), not a single value ("prod-bj4")`},
			notIn:   []string{"unmarshal", "config.fileSource"},
		},
		{
			name:    "a key written twice",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {file: prod_sk}\n    region: s\n",
			wantErr: []string{`source a: `, `indexer.yaml:7: mapping key "region" already defined at line 4`},
		},
		{
			name:    "a key the defaults do not take",
			yaml:    "defaults:\n  region: r\nsources:\n  - name: a\n",
			wantErr: []string{`indexer.yaml:2: unknown key "region"`},
		},
		{
			name:    "a value of the wrong type",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {file: prod_sk}\n    per_page: many\n",
			wantErr: []string{"source a: ", "indexer.yaml:7: cannot unmarshal !!str `many` into int"},
		},
		{
			name:    "an endpoint with a query",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    endpoint: https://m.example.com?x=1\n    ak: x\n    sk: {file: prod_sk}\n",
			wantErr: []string{`source a: endpoint "https://m.example.com?x=1" is not a base URL: remove the query (?x=1)`},
		},
		{
			name:    "single-source variables set as well",
			yaml:    "sources:\n  - name: a\n    project_id: p\n    region: r\n    ak: x\n    sk: {file: prod_sk}\n",
			env:     map[string]string{EnvProjectID: "p", EnvSchedule: "@hourly"},
			wantErr: []string{"HUAWEICLOUD_SDK_PROJECT_ID is set, and so is INDEXER_CONFIG=", "INDEXER_SCHEDULE is set"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{EnvConfigFile: writeConfig(t, tt.yaml)}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := loadValidate(env)
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			for _, s := range tt.notIn {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error contains %q:\n%v", s, err)
				}
			}
		})
	}
}

// TestConfigFileMergeKeys: YAML's merge keys and anchors share settings between sources, and a
// source's own key wins over a merged one.
func TestConfigFileMergeKeys(t *testing.T) {
	// The top level takes only defaults: and sources:, so the anchor is on the first source.
	path := writeConfig(t, "sources:\n  - &common\n    name: a\n    region: cn-north-4\n    project_id: p1\n    ak: AKPROD\n    sk: {file: prod_sk}\n    per_page: 20\n"+
		"  - <<: *common\n    name: b\n    project_id: p2\n    per_page: 30\n")
	c, err := loadValidate(map[string]string{EnvConfigFile: path})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Sources[0], c.Sources[1]
	if a.Name != "a" || a.PerPage != 20 || b.Name != "b" || b.ProjectID != "p2" || b.PerPage != 30 || b.SK != "sk-from-file" ||
		b.Endpoint != "https://modelarts.cn-north-4.myhuaweicloud.com" {
		t.Errorf("sources %+v and %+v", a, b)
	}
}

func TestConfigFileMissing(t *testing.T) {
	_, err := loadValidate(map[string]string{EnvConfigFile: filepath.Join(t.TempDir(), "nope.yaml")})
	if err == nil || !strings.Contains(err.Error(), "INDEXER_CONFIG=") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("error %v", err)
	}
}

func TestDaemonSettings(t *testing.T) {
	base := map[string]string{EnvProjectID: "p", EnvRegion: "cn-north-4", EnvAK: "ak", EnvSK: "sk"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := loadValidate(with(EnvHTTPAddr, "127.0.0.1:9090", EnvConcurrency, "8", EnvShutdownGrace, "5s",
		EnvRunAtStart, "yes", EnvTimezone, "Asia/Shanghai", EnvSchedule, "@every 1m"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9090" || c.Concurrency != 8 || c.ShutdownGrace != 5*time.Second || !c.RunAtStart ||
		c.Location.String() != "Asia/Shanghai" || c.Sources[0].Schedule != "@every 1m" {
		t.Errorf("got addr %q concurrency %d grace %s at-start %v location %v schedule %q", c.HTTPAddr, c.Concurrency,
			c.ShutdownGrace, c.RunAtStart, c.Location, c.Sources[0].Schedule)
	}

	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{env: with(EnvSchedule, "every 5m"), want: `source p: INDEXER_SCHEDULE="every 5m": expected exactly 5 fields`},
		{env: with(EnvSchedule, "61 * * * *"), want: `INDEXER_SCHEDULE="61 * * * *"`},
		{env: with(EnvHTTPAddr, "8080"), want: `INDEXER_HTTP_ADDR="8080" is not host:port`},
		{env: with(EnvConcurrency, "0"), want: "INDEXER_CONCURRENCY must be between 1 and 64, got 0"},
		{env: with(EnvShutdownGrace, "-1s"), want: "INDEXER_SHUTDOWN_GRACE must not be negative"},
		{env: with(EnvShutdownGrace, "soon"), want: `INDEXER_SHUTDOWN_GRACE="soon" is not a duration`},
		{env: with(EnvRunAtStart, "maybe"), want: `INDEXER_RUN_AT_START="maybe": use true or false`},
		{env: with(EnvTimezone, "Mars/Olympus_Mons"), want: `INDEXER_TIMEZONE="Mars/Olympus_Mons" is not a time zone`},
	} {
		_, err := loadValidate(tt.env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

func TestVariables(t *testing.T) {
	vars := Variables()
	for _, want := range []string{EnvDatabaseURL, EnvConfigFile, EnvHTTPAddr, EnvTimezone, EnvSK + "_FILE", EnvDatabaseURL + "_FILE"} {
		if !slices.Contains(vars, want) {
			t.Errorf("Variables() lacks %s", want)
		}
	}
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v] {
			t.Errorf("%s listed twice", v)
		}
		seen[v] = true
	}
	// Every variable Load reads is listed: record what it asks for.
	asked := map[string]bool{}
	getenv := func(k string) string { asked[k] = true; return "" }
	_, _ = Load(getenv)
	_, _ = Load(func(k string) string {
		asked[k] = true
		if k == EnvConfigFile {
			return filepath.Join(t.TempDir(), "none.yaml")
		}
		return ""
	})
	for k := range asked {
		if !seen[k] {
			t.Errorf("Load reads %s, which Variables() does not list", k)
		}
	}
}

// A message asking to change a source's page size names the setting as the user gave it: the key of
// a source of the file, else the flag or the variable (the flag: cmd/indexer's TestSyncPerPageHint).
func TestPerPageSetting(t *testing.T) {
	path := writeConfig(t, threeSources)
	c, err := loadValidate(map[string]string{
		EnvConfigFile: path, "SH_AK": "AKSH", "SH_SK": "sk-from-env", "SH_TOKEN": "sts", "ROBOT_PASSWORD": "pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Sources[0].PerPageSetting(), "per_page of source prod-bj4 in the configuration file"; got != want {
		t.Errorf("file source: %q, want %q", got, want)
	}
	c, err = loadValidate(map[string]string{EnvProjectID: "p", EnvRegion: "cn-north-4", EnvAK: "AK", EnvSK: "SK"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].PerPageSetting(); got != EnvPerPage {
		t.Errorf("environment's source: %q, want %q", got, EnvPerPage)
	}
}
