package main

import (
	"context"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/testdb"
)

// runWith runs one command of Main with env as the whole environment.
func runWith(env map[string]string, args ...string) (int, string, string) {
	var out, errb lockedBuffer
	code := Main(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// TestSyncBeforeMigrateSaysToMigrate: indexer sync against a database nothing was migrated into
// says to run indexer migrate up, not "relation modelarts.sync_runs does not exist", and creates
// nothing in it.
func TestSyncBeforeMigrateSaysToMigrate(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	code, out, errOut := runWith(map[string]string{
		"INDEXER_DATABASE_URL":       db,
		"MODELARTS_ENDPOINT":         "http://127.0.0.1:1",
		"HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK":         simulator.DefaultAK,
		"HUAWEICLOUD_SDK_SK":         simulator.DefaultSK,
	}, "sync")
	if code != exitFailed || !strings.Contains(errOut, "run 'indexer migrate up'") || strings.Contains(errOut, "SQLSTATE") {
		t.Errorf("sync before migrate: exit %d, want %d and a hint to run 'indexer migrate up':\n%s%s", code, exitFailed, out, errOut)
	}
	c, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var tables int
	if err := c.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("sync before migrate created %d tables; it should only read", tables)
	}
}

// TestMalformedDatabaseURL: a URL that does not parse is a configuration error (exit 2) that names
// the variable or flag as typed and the expected form, and never prints the password.
func TestMalformedDatabaseURL(t *testing.T) {
	t.Parallel()
	source := map[string]string{
		"MODELARTS_ENDPOINT":         "http://127.0.0.1:1",
		"HUAWEICLOUD_SDK_PROJECT_ID": "p",
		"HUAWEICLOUD_SDK_AK":         "ak",
		"HUAWEICLOUD_SDK_SK":         "sk",
	}
	for _, tc := range []struct {
		name, variable, value string
		args                  []string
	}{
		{"keyword/value typo", "INDEXER_DATABASE_URL", "postgres//bob:Hunter2secret@db.example.com/x", []string{"sync"}},
		{"port not a number", "DATABASE_URL", "postgres://bob:Hunter2secret@db.example.com:54x2/x", []string{"migrate", "up"}},
		{"flag", "--database-url", "postgres://bob:Hunter2secret@db.example.com:port/x", []string{"run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range source {
				env[k] = v
			}
			args := tc.args
			if strings.HasPrefix(tc.variable, "--") {
				args = append(append([]string{}, args...), tc.variable, tc.value)
			} else {
				env[tc.variable] = tc.value
			}
			code, out, errOut := runWith(env, args...)
			text := out + errOut
			if code != exitUsage {
				t.Errorf("exit %d, want %d:\n%s", code, exitUsage, text)
			}
			for _, want := range []string{tc.variable + " is not a PostgreSQL connection string", "postgres://USER:PASSWORD@HOST"} {
				if !strings.Contains(text, want) {
					t.Errorf("the message lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "Hunter2") || strings.Contains(text, "secret") {
				t.Errorf("the message prints the password:\n%s", text)
			}
		})
	}
}

// TestSyncHelpSaysHowToGiveCredentials: sync --help names the credential variables of both auth
// modes, the _FILE forms and the configuration file.
func TestSyncHelpSaysHowToGiveCredentials(t *testing.T) {
	t.Parallel()
	code, out, _ := runWith(nil, "sync", "--help")
	if code != exitOK {
		t.Fatalf("sync --help: exit %d", code)
	}
	for _, want := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_USERNAME", "HUAWEICLOUD_PASSWORD",
		"HUAWEICLOUD_DOMAIN_NAME", "HUAWEICLOUD_SDK_PROJECT_ID", "_FILE", "INDEXER_CONFIG"} {
		if !strings.Contains(out, want) {
			t.Errorf("sync --help does not mention %s:\n%s", want, out)
		}
	}
}

// TestDescribeBuild: indexer version says which module version and revision it was built from, and
// what to do when the build recorded neither.
func TestDescribeBuild(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go install from a clone", debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Path: "github.com/vizjob/indexer", Version: "v0.0.0-20261202073220-b4ca8c9f857b"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "b4ca8c9f857bf681ab3b9716044b6a8753e63737"},
				{Key: "vcs.time", Value: "2026-12-02T07:32:20Z"}, {Key: "vcs.modified", Value: "false"}}},
			"v0.0.0-20261202073220-b4ca8c9f857b (github.com/vizjob/indexer, revision b4ca8c9f857b, 2026-12-02T07:32:20Z, go1.26.8)"},
		{"local changes", debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Path: "github.com/vizjob/indexer", Version: "v0.0.0-20261202073220-b4ca8c9f857b+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "b4ca8c9f857bf681"}, {Key: "vcs.modified", Value: "true"}}},
			"v0.0.0-20261202073220-b4ca8c9f857b+dirty (github.com/vizjob/indexer, revision b4ca8c9f857b with uncommitted changes, go1.26.8)"},
		{"go install module@version", debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Path: "github.com/vizjob/indexer", Version: "v1.2.3"}},
			"v1.2.3 (github.com/vizjob/indexer, go1.26.8)"},
		{"go run", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vizjob/indexer", Version: "(devel)"}},
			"(devel) (github.com/vizjob/indexer, no revision: built by go run or without VCS stamping; 'go install ./cmd/indexer' records it, go1.26.8)"},
	} {
		if got := describeBuild(&tc.bi); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
