package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzConfigLoad feeds the loader any environment, secret file and configuration file. Load and
// Validate must never panic, and no error, nor the printed form of a source, may show a secret: the
// secrets (SK, password, security token, the database URL's password) carry markers so that any echo,
// raw or quoted, is found.
func FuzzConfigLoad(f *testing.F) {
	f.Add("https://modelarts.cn-north-4.myhuaweicloud.com\ncn-north-4\n0123456789abcdef\nAKID\n", "s3cr3t", []byte(""))
	f.Add("\n\nproj\n\n\n\n\nuser\n\nacct\nhttps://iam.cn-north-4.myhuaweicloud.com\nsrc\n*/5 * * * *\n\n100\n1000\n", "pässwörd\r\n", []byte(""))
	f.Add("not a url\n\n\n\n\n\n\n\n\n\n\n\nbad cron\n\nx\n-1\n0\n2.5\n-3\n0s\nmaybe\nnope\nxx\n-4\nMars/Olympus\n", "\x00\xff", []byte(""))
	f.Add("", "literal", []byte("sources:\n  - name: a\n    region: cn-north-4\n    project_id: p\n    ak: AKID\n    sk: {env: MY_SK}\n"))
	f.Add("", "x", []byte("defaults:\n  per_page: 5000\nsources:\n  - {name: a, project_id: p, endpoint: 'http://h', username: u, password: {file: pw}, domain_name: d}\n  - {name: a}\n"))
	f.Add("", "", []byte("sources: [1, 2\n"))
	f.Add("", "y", []byte("\tsources:\n- :\n  - &a [*a]\n"))
	f.Fuzz(func(t *testing.T, envLines, secret string, configFile []byte) {
		dir := t.TempDir()
		marked := "S3CR3T<" + secret + ">S3CR3T"
		env := map[string]string{}
		// Line i of envLines sets the ith variable (in a fixed order), whatever its text.
		vars := plainVars()
		for i, line := range strings.Split(envLines, "\n") {
			if i >= len(vars) {
				break
			}
			if line != "" {
				env[vars[i]] = line
			}
		}
		env[EnvSK] = marked
		env[EnvSecurityToken] = marked + "-sts"
		env[EnvDatabaseURL] = "postgres://u:" + marked + "@db.example.com/x"
		pwFile := filepath.Join(dir, "password")
		if err := os.WriteFile(pwFile, []byte(marked+"\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if len(secret)%2 == 0 {
			env[EnvPassword+fileSuffix] = pwFile
		} else {
			env[EnvPassword] = marked
		}
		env["MY_SK"] = marked
		if len(configFile) > 0 {
			name := filepath.Join(dir, "indexer.yaml")
			// Every secret written in the file itself must be refused without being echoed.
			doc := string(configFile) + "\n# secret literals:\n" +
				"x-literal: {sk: " + strconv.Quote(marked) + ", password: " + strconv.Quote(marked) + "}\n"
			if len(secret)%3 == 0 {
				doc = "sources:\n  - name: lit\n    project_id: p\n    endpoint: http://h\n    ak: AKID\n    sk: " +
					strconv.Quote(marked) + "\n    security_token: " + strconv.Quote(marked) + "\n    password: " + strconv.Quote(marked) + "\n" +
					string(configFile)
			}
			if err := os.WriteFile(name, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(marked), 0o600); err != nil {
				t.Fatal(err)
			}
			env[EnvConfigFile] = name
		}
		getenv := func(k string) string { return env[k] }

		c, err := Load(getenv)
		noSecret(t, "Load error", err, marked)
		if c == nil {
			return
		}
		noSecret(t, "Validate error", c.Validate(), marked)
		for _, s := range c.Sources {
			for _, form := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
				if strings.Contains(form, marked) {
					t.Fatalf("a printed source shows a secret: %s", form)
				}
			}
		}
	})
}

// plainVars are the variables the fuzzer sets freely: every variable but the secrets and the
// configuration file, which the target sets itself.
func plainVars() []string {
	skip := map[string]bool{EnvSK: true, EnvSecurityToken: true, EnvPassword: true, EnvDatabaseURL: true,
		EnvDatabaseURLAlt: true, EnvConfigFile: true}
	var out []string
	for _, v := range Variables() {
		if !skip[v] && !strings.HasSuffix(v, fileSuffix) {
			out = append(out, v)
		}
	}
	return out
}

func noSecret(t *testing.T, what string, err error, marked string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	quoted := strconv.Quote(marked)
	for _, form := range []string{marked, quoted[1 : len(quoted)-1]} {
		if form != "" && strings.Contains(msg, form) {
			t.Fatalf("%s shows a secret: %s", what, msg)
		}
	}
}
