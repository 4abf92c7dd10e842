package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// samplePath is the commented sample configuration file at the root of the repository.
const samplePath = "../../indexer.yaml"

// TestSampleConfigLoads: the sample indexer.yaml loads and validates as it is (with its references
// to variables and files satisfied), and sets what it says.
func TestSampleConfigLoads(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "indexer.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "prod_bj4_sk"), []byte("bj4-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		EnvConfigFile: path, "PROD_BJ4_AK": "BJ4AK", "PROD_SH1_AK": "SH1AK", "PROD_SH1_SK": "sh1-secret",
		"PROD_SH1_TOKEN": "sh1-token", "LAB_PASSWORD": "lab-password",
	}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the sample does not load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the sample does not validate: %v", err)
	}
	type got struct{ Name, Region, Endpoint, AK, SK, Token, Username, Password, Domain, IAM, Schedule string }
	var sources []got
	for _, s := range c.Sources {
		sources = append(sources, got{s.Name, s.Region, s.Endpoint, s.AK, s.SK, s.SecurityToken, s.Username, s.Password,
			s.DomainName, s.IAMEndpoint, s.Schedule})
	}
	want := []got{
		{"prod-bj4", "cn-north-4", "https://modelarts.cn-north-4.myhuaweicloud.com", "BJ4AK", "bj4-secret", "", "", "", "", "", "@every 10m"},
		{"prod-sh1", "", "https://modelarts.cn-east-3.myhuaweicloud.com", "SH1AK", "sh1-secret", "sh1-token", "", "", "", "", "*/5 * * * *"},
		{"lab", "ap-southeast-1", "https://modelarts.ap-southeast-1.myhuaweicloud.cn", "", "", "", "indexer-robot", "lab-password", "acme",
			"https://iam.ap-southeast-1.myhuaweicloud.cn", "*/5 * * * *"},
	}
	if !reflect.DeepEqual(sources, want) {
		t.Errorf("sources of the sample:\n got %+v\nwant %+v", sources, want)
	}
	if c.Sources[1].PerPage != 50 || c.Sources[0].PerPage != 100 {
		t.Errorf("per_page: %d and %d, want 100 (defaults) and 50 (the source's)", c.Sources[0].PerPage, c.Sources[1].PerPage)
	}
}

// TestSampleConfigCoversEveryKey: every key the file format has appears in the sample, each with a
// comment on its line or the line above, so the sample documents the whole format.
func TestSampleConfigCoversEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	present := map[string]int{} // "defaults.schedule", "sources.ak" -> first line
	note := func(prefix string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := prefix + m.Content[i].Value
			if present[k] == 0 {
				present[k] = m.Content[i].Line
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch v := root.Content[i+1]; root.Content[i].Value {
		case "defaults":
			note("defaults.", v)
		case "sources":
			for _, s := range v.Content {
				note("sources.", s)
			}
		}
	}
	lines := strings.Split(string(data), "\n")
	var keys []string
	for _, st := range settings {
		if st.Key == "" {
			continue
		}
		keys = append(keys, "sources."+st.Key)
		if st.inDefaults {
			keys = append(keys, "defaults."+st.Key)
		}
	}
	if len(keys) < 10 {
		t.Fatalf("only %d keys in the settings table: %v", len(keys), keys)
	}
	for _, key := range keys {
		line := present[key]
		if line == 0 {
			t.Errorf("the sample indexer.yaml does not show the key %s", key)
			continue
		}
		above := strings.TrimSpace(lines[line-2])
		if !strings.Contains(lines[line-1], "#") && !strings.HasPrefix(above, "#") {
			t.Errorf("indexer.yaml:%d: the key %s has no comment on its line or the line above", line, key)
		}
	}
}
