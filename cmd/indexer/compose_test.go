package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vizjob/indexer/internal/config"
)

// composeService is what the test reads of a service of docker-compose.yml.
type composeService struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck map[string]any               `yaml:"healthcheck"`
	Volumes     []string                     `yaml:"volumes"`
	Ports       []string                     `yaml:"ports"`
}

// No Docker engine runs where the tests run: check instead that docker-compose.yml only uses commands,
// flags and variables the binary knows, and has the shape the README promises.
func TestDockerComposeMatchesCLI(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	known := config.Variables()
	indexerServices := 0
	for name, svc := range file.Services {
		if svc.Build == nil && !strings.HasPrefix(svc.Image, "vizjob/indexer") {
			continue // not the indexer's image
		}
		indexerServices++
		if len(svc.Command) == 0 {
			t.Errorf("service %s: no command", name)
			continue
		}
		help := commandHelp(t, svc.Command[0])
		if help == "" {
			t.Errorf("service %s: %q is not a command of indexer", name, svc.Command[0])
			continue
		}
		for _, arg := range svc.Command[1:] {
			if !strings.HasPrefix(arg, "-") {
				continue // a flag's value
			}
			flagName, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(flagName) + `(\s|$)`).MatchString(help) {
				t.Errorf("service %s: indexer %s has no flag --%s", name, svc.Command[0], flagName)
			}
		}
		for v := range svc.Environment {
			if !slices.Contains(known, v) {
				t.Errorf("service %s: variable %s is not one the configuration reads", name, v)
			}
		}
	}
	if indexerServices < 3 {
		t.Errorf("%d services run the indexer image; want the simulator and two replicas of the daemon", indexerServices)
	}
	replicas := 0
	for _, svc := range file.Services {
		if len(svc.Command) > 0 && svc.Command[0] == "run" {
			replicas++
		}
	}
	if replicas < 2 {
		t.Errorf("%d services run the daemon; want two replicas sharing the work", replicas)
	}

	pg, ok := file.Services["postgres"]
	if !ok || pg.Image != "postgres:17" || pg.Healthcheck == nil || len(pg.Ports) == 0 || len(pg.Volumes) == 0 {
		t.Errorf("service postgres: want image postgres:17 with a healthcheck, a published port and a volume: %+v", pg)
	} else if vol, _, _ := strings.Cut(pg.Volumes[0], ":"); file.Volumes == nil || !hasKey(file.Volumes, vol) {
		t.Errorf("service postgres: volume %q is not a named volume", vol)
	}
	// Published ports are reachable from this machine only: the database's superuser password and the
	// simulator's control endpoints are demo values.
	for name, svc := range file.Services {
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s: port %q is published on every interface; publish it on 127.0.0.1 only", name, p)
			}
		}
	}
	ix := file.Services["indexer"]
	if len(ix.Command) == 0 || ix.Command[0] != "run" || ix.DependsOn["postgres"]["condition"] != "service_healthy" {
		t.Errorf("service indexer: want `run`, depending on postgres being healthy: %+v", ix)
	}

	// Where Debian's docker-compose (v1) is installed, it validates the file too.
	if bin, err := exec.LookPath("docker-compose"); err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, bin, "-f", "../../docker-compose.yml", "config", "-q").CombinedOutput(); err != nil {
			t.Errorf("docker-compose config: %v\n%s", err, out)
		}
	} else {
		t.Log("docker-compose not installed: the file was checked against the CLI only")
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// commandHelp returns `indexer <command> --help`, or "" if there is no such command.
func commandHelp(t *testing.T, command string) string {
	t.Helper()
	var out, errb lockedBuffer
	if code := Main(t.Context(), []string{command, "--help"}, &out, &errb, func(string) string { return "" }); code != exitOK {
		return ""
	}
	return out.String()
}
