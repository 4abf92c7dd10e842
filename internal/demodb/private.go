//go:build unix

package demodb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// privatePort is the port of a private server: its socket is in a directory of its own, so any port will do.
const privatePort = "5432"

// StartPrivate starts a throwaway PostgreSQL server from this machine's binaries: initdb in a
// temporary directory, the server listening on a Unix socket in that directory only (no TCP port),
// trust authentication for the user postgres, no fsync (nothing here is worth keeping). Close stops
// it and removes the directory. initdb refuses to run as root: as root, the server runs as the OS
// user postgres when there is one.
func StartPrivate(ctx context.Context, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vizjob-demo-pg-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("hand %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	opts.Logger.Info("starting a private PostgreSQL server", "bin", bin, "dir", dir)
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLine(out))
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	if cred != nil {
		_ = logFile.Chown(int(cred.Uid), int(cred.Gid))
	}
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", privatePort,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	srv.Stdout, srv.Stderr = logFile, logFile
	// A process group of its own: Ctrl-C reaches the demo, which stops the daemon first and the server last.
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	setParentDeathSignal(srv.SysProcAttr)
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stop := func() error {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
		return os.RemoveAll(dir)
	}
	admin := "host=" + dir + " port=" + privatePort + " user=postgres dbname=postgres sslmode=disable connect_timeout=3"
	err = waitReady(ctx, admin, 60*time.Second, func() error {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited (%v): %s", err, lastLine(log))
		default:
			return nil
		}
	})
	if err != nil {
		_ = stop()
		ok = true // stop removed it
		return nil, err
	}
	s, err := useServer(ctx, admin, opts.Database)
	if err != nil {
		_ = stop()
		ok = true
		return nil, err
	}
	ok = true
	s.Via, s.Throwaway, s.close = "private server", true, stop
	s.Where += " on a private server in " + dir + " (a Unix socket only; removed, with its data, when the demo ends)"
	s.Psql = fmt.Sprintf(`psql "host=%s port=%s user=postgres dbname=%s"`, dir, privatePort, opts.Database)
	return s, nil
}

// credential is who initdb and the server run as: the current user, or postgres when that is root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("initdb refuses to run as root, and there is no OS user postgres to run it as: " +
			"run the demo as another user")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("the OS user postgres has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// binDirGlobs are where packages put PostgreSQL's server binaries (Debian, RHEL, Homebrew).
var binDirGlobs = []string{
	"/usr/lib/postgresql/*/bin",
	"/usr/pgsql-*/bin",
	"/opt/homebrew/opt/postgresql@*/bin",
	"/usr/local/opt/postgresql@*/bin",
}

// binDir returns the directory of initdb and postgres: pg_config --bindir, else the newest version
// under binDirGlobs, else where initdb is on the PATH.
func binDir() (string, error) {
	var tried []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasServer(dir) {
			return dir, nil
		}
		tried = append(tried, "pg_config --bindir ("+dir+": no initdb and postgres)")
	} else {
		tried = append(tried, "pg_config (not found)")
	}
	var dirs []string
	for _, g := range binDirGlobs {
		m, _ := filepath.Glob(g)
		dirs = append(dirs, m...)
	}
	if dir, ok := newest(dirs, hasServer); ok {
		return dir, nil
	}
	tried = append(tried, strings.Join(binDirGlobs, ", "))
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && hasServer(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	tried = append(tried, "initdb on the PATH")
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres); looked at %s", strings.Join(tried, "; "))
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// newest returns the directory of dirs with the highest version number in its path that ok accepts.
func newest(dirs []string, ok func(string) bool) (string, bool) {
	slices.SortStableFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if ok(d) {
			return d, true
		}
	}
	return "", false
}

// versionOf reads the major version in a path such as /usr/lib/postgresql/15/bin or /usr/pgsql-16/bin.
func versionOf(path string) int {
	best := 0
	for _, f := range strings.FieldsFunc(path, func(r rune) bool { return r < '0' || r > '9' }) {
		if n, err := strconv.Atoi(f); err == nil && n > best {
			best = n
		}
	}
	return best
}
