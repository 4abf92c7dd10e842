package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/testdb"
)

// Secrets of TestNoSecretLeaks: distinctive strings, so that a match anywhere is a leak.
const (
	leakSK            = "sk-SECRET-9d1f7a2b6e3c"
	leakSecurityToken = "sts-SECRET-5c3e8f10aa77"
	leakPassword      = "pw-SECRET-77aa31c2d4e5"
	leakDBPassword    = "db-SECRET-0f9e8d7c6b5a"
	leakWrongSK       = "sk-SECRET-wrong-4b2a1c"
	leakWrongPassword = "pw-SECRET-wrong-8e1d3f"
	leakWrongSecToken = "sts-SECRET-wrong-6a6b6c"
)

// tokenRecorder remembers every IAM token the simulator issued: they are secrets too.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (tr *tokenRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if tok := w.Header().Get("X-Subject-Token"); tok != "" {
			tr.mu.Lock()
			tr.tokens = append(tr.tokens, tok)
			tr.mu.Unlock()
		}
	})
}

func (tr *tokenRecorder) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.tokens...)
}

// TestNoSecretLeaks syncs with every kind of secret (SK, security token, IAM password and the tokens
// IAM issues, the database password) at debug level, in both log formats, through failures that make
// the indexer talk about them (a wrong SK, a wrong security token, a token that expires mid-walk, a
// wrong password, throttling and gateway errors, an unreachable database), then looks for every
// secret in every line written, in every text column of the schema modelarts, and in /metrics of the
// daemon.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	sim := simulator.New(simulator.Options{Jobs: 150, Seed: 9, SK: leakSK, SecurityToken: leakSecurityToken, Password: leakPassword})
	tokens := &tokenRecorder{}
	srv := httptest.NewServer(tokens.wrap(sim.Handler()))
	t.Cleanup(srv.Close)
	dbURL := withPassword(t, testdb.New(t), leakDBPassword)
	proxy, downURL := testdb.NewProxy(t, dbURL)
	proxy.Refuse(true)

	base := map[string]string{
		"INDEXER_DATABASE_URL":       dbURL,
		"MODELARTS_ENDPOINT":         srv.URL,
		"HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"INDEXER_SOURCE":             "sim",
		"INDEXER_LOG_LEVEL":          "debug",
		"INDEXER_RATE_LIMIT":         "0",
	}
	aksk := map[string]string{"HUAWEICLOUD_SDK_AK": simulator.DefaultAK, "HUAWEICLOUD_SDK_SK": leakSK, "HUAWEICLOUD_SDK_SECURITY_TOKEN": leakSecurityToken}
	token := map[string]string{"HUAWEICLOUD_IAM_ENDPOINT": srv.URL, "HUAWEICLOUD_USERNAME": simulator.DefaultUsername,
		"HUAWEICLOUD_PASSWORD": leakPassword, "HUAWEICLOUD_DOMAIN_NAME": simulator.DefaultDomainName}
	with := func(maps ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range maps {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	noisy := simulator.Faults{ThrottleEvery: 3, ServerErrorEvery: 4, TruncateEvery: 5} // 5 attempts always suffice

	steps := []struct {
		name   string
		env    map[string]string
		faults simulator.Faults
		args   []string
		code   int
	}{
		{name: "migrate", env: base, faults: simulator.Faults{}, args: []string{"migrate", "up"}, code: exitOK},
		{name: "AK/SK with a security token, through faults, json", env: with(base, aksk), faults: noisy, args: []string{"sync"}, code: exitOK},
		{name: "AK/SK, text logs", env: with(base, aksk, map[string]string{"INDEXER_LOG_FORMAT": "text"}), faults: noisy, args: []string{"sync"}, code: exitOK},
		{name: "wrong SK", env: with(base, aksk, map[string]string{"HUAWEICLOUD_SDK_SK": leakWrongSK}), faults: simulator.Faults{}, args: []string{"sync"}, code: exitFailed},
		{name: "wrong security token", env: with(base, aksk, map[string]string{"HUAWEICLOUD_SDK_SECURITY_TOKEN": leakWrongSecToken}), faults: simulator.Faults{}, args: []string{"sync"}, code: exitFailed},
		{name: "token expiring mid-walk", env: with(base, token), faults: simulator.Faults{ExpireTokensAfter: 2, ThrottleEvery: 3}, args: []string{"sync"}, code: exitOK},
		{name: "token, text logs", env: with(base, token, map[string]string{"INDEXER_LOG_FORMAT": "text"}), faults: simulator.Faults{ExpireTokensAfter: 1}, args: []string{"sync"}, code: exitOK},
		{name: "IAM rejects the password", env: with(base, token, map[string]string{"HUAWEICLOUD_PASSWORD": leakWrongPassword}), faults: simulator.Faults{}, args: []string{"sync"}, code: exitFailed},
		{name: "database unreachable", env: with(base, aksk, map[string]string{"INDEXER_DATABASE_URL": downURL}), faults: simulator.Faults{}, args: []string{"sync"}, code: exitFailed},
		{name: "database unreachable, migrate", env: with(base, map[string]string{"INDEXER_DATABASE_URL": downURL}), faults: simulator.Faults{}, args: []string{"migrate", "up"}, code: exitFailed},
		{name: "configuration error", env: with(base, aksk, map[string]string{"HUAWEICLOUD_SDK_AK": "", "INDEXER_LOG_FORMAT": "text"}), faults: simulator.Faults{}, args: []string{"sync"}, code: exitUsage},
	}
	var written strings.Builder
	for _, st := range steps {
		must(t, sim.SetFaults(st.faults))
		var out, errb lockedBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		code := Main(ctx, st.args, &out, &errb, func(k string) string { return st.env[k] })
		cancel()
		if code != st.code {
			t.Errorf("%s: exit %d, want %d\n%s", st.name, code, st.code, tail(errb.String(), 3000))
		}
		fmt.Fprintf(&written, "== %s\n%s%s", st.name, out.String(), errb.String())
	}
	must(t, sim.SetFaults(simulator.Faults{}))

	metrics, note := daemonMetrics(t, with(base, aksk))
	if note != "" {
		t.Log(note)
	} else if !strings.Contains(metrics, "# HELP") {
		t.Errorf("/metrics answered no metrics:\n%s", tail(metrics, 2000))
	}
	written.WriteString(metrics)

	secrets := map[string]string{
		"SK": leakSK, "security token": leakSecurityToken, "IAM password": leakPassword, "database password": leakDBPassword,
		"wrong SK": leakWrongSK, "wrong password": leakWrongPassword, "wrong security token": leakWrongSecToken,
	}
	issued := tokens.all()
	if len(issued) < 3 {
		t.Fatalf("IAM issued %d tokens; the token steps did not run", len(issued))
	}
	for i, tok := range issued {
		secrets[fmt.Sprintf("IAM token %d", i+1)] = tok
	}
	text := written.String()
	for name, secret := range secrets {
		if strings.Contains(text, secret) {
			i := strings.Index(text, secret)
			t.Errorf("the %s appears in the output: ...%s...", name, text[max(0, i-200):min(len(text), i+len(secret)+50)])
		}
	}
	checkDatabaseHasNo(t, dbURL, secrets)
	// The failures were really talked about (the test would prove nothing otherwise).
	for _, want := range []string{"authentication failed", "retrying", "token rejected, renewing it", "IAM rejected", "cannot open the database"} {
		if !strings.Contains(text, want) {
			t.Errorf("no line says %q: the failure did not happen", want)
		}
	}
}

// withPassword returns databaseURL with the user's password set (the test server trusts local
// connections, so any password works, and it is still in every connection string).
func withPassword(t *testing.T, databaseURL, password string) string {
	t.Helper()
	i := strings.Index(databaseURL, "@")
	j := strings.Index(databaseURL, "://")
	if i < 0 || j < 0 || strings.Contains(databaseURL[j+3:i], ":") {
		t.Fatalf("cannot add a password to the test database URL")
	}
	return databaseURL[:i] + ":" + password + databaseURL[i:]
}

// checkDatabaseHasNo looks for every secret in every text, varchar and jsonb column of every table of
// the schema modelarts.
func checkDatabaseHasNo(t *testing.T, databaseURL string, secrets map[string]string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'modelarts' AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'character varying', 'jsonb', 'json')`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Table, Column string }])
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 10 {
		t.Fatalf("found only %d text columns in schema modelarts", len(cols))
	}
	var runs int64
	if err := c.QueryRow(ctx, `SELECT count(*) FROM modelarts.sync_runs WHERE error IS NOT NULL`).Scan(&runs); err != nil || runs < 3 {
		t.Fatalf("%d failed runs recorded (%v): the failures were not recorded", runs, err)
	}
	for _, col := range cols {
		for name, secret := range secrets {
			q := fmt.Sprintf(`SELECT count(*) FROM modelarts.%s WHERE strpos(%s::text, $1) > 0`,
				pgx.Identifier{col.Table}.Sanitize(), pgx.Identifier{col.Column}.Sanitize())
			var n int64
			if err := c.QueryRow(ctx, q, secret).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				t.Errorf("the %s appears in %d rows of modelarts.%s.%s", name, n, col.Table, col.Column)
			}
		}
	}
}

// daemonMetrics runs `indexer run` until its first sync has ended and returns what /metrics answered,
// or a note saying why there is nothing to check.
func daemonMetrics(t *testing.T, env map[string]string) (string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env["INDEXER_HTTP_ADDR"] = addr
	env["INDEXER_RUN_AT_START"] = "true"
	env["INDEXER_SCHEDULE"] = "0 0 1 1 *"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"run"}, &out, &errb, func(k string) string { return env[k] }) }()

	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			return out.String() + errb.String(), fmt.Sprintf("indexer run exited %d before serving /metrics: metrics not checked", code)
		case <-time.After(100 * time.Millisecond):
		}
		if !strings.Contains(errb.String(), `"msg":"sync ended"`) {
			continue
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		<-done
		return string(body) + out.String() + errb.String(), ""
	}
	cancel()
	<-done
	t.Errorf("indexer run did not finish a sync within a minute")
	return out.String() + errb.String(), ""
}
