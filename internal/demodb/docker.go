package demodb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// dockerImage is the image of the demo's container.
const dockerImage = "postgres:17-alpine"

// startDocker starts a postgres container with the docker command (the image is pulled on first
// use), published on 127.0.0.1 only, with trust authentication; Close removes it. The docker CLI
// rather than a client library: the binary stays small, and a demo needs nothing more.
func startDocker(ctx context.Context, opts Options) (*Server, error) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		return nil, errors.New("no docker command on the PATH")
	}
	run := func(timeout time.Duration, args ...string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out, err := exec.CommandContext(cctx, docker, args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("docker %s: %v: %s", args[0], err, lastLine(out))
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := run(15*time.Second, "info", "--format", "{{.ServerVersion}}"); err != nil {
		return nil, fmt.Errorf("the Docker engine does not answer (%v)", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "vizjob-demo-" + hex.EncodeToString(b[:])
	opts.Logger.Info("starting a PostgreSQL container (the image is pulled on first use)", "image", dockerImage, "name", name)
	if _, err := run(10*time.Minute, "run", "-d", "--rm", "--name", name, "-e", "POSTGRES_HOST_AUTH_METHOD=trust",
		"-e", "POSTGRES_DB="+opts.Database, "-p", "127.0.0.1::5432", dockerImage); err != nil {
		return nil, err
	}
	stop := func() error {
		_, err := run(time.Minute, "rm", "-f", name)
		return err
	}
	addr, err := run(15*time.Second, "port", name, "5432/tcp")
	if err != nil {
		_ = stop()
		return nil, err
	}
	addr, _, _ = strings.Cut(addr, "\n") // one line per address family
	url := "postgres://postgres@" + addr + "/" + opts.Database + "?sslmode=disable&connect_timeout=3"
	if err := waitReady(ctx, url, 2*time.Minute, func() error { return nil }); err != nil {
		_ = stop()
		return nil, err
	}
	return &Server{
		URL: url, Via: "docker container", Throwaway: true, close: stop,
		Where: opts.Database + " in container " + name + " (" + dockerImage + ") on " + addr +
			" (removed, with its data, when the demo ends)",
		Psql: `psql "postgres://postgres@` + addr + "/" + opts.Database + `?sslmode=disable"`,
	}, nil
}
