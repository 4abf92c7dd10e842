package config

import (
	"fmt"
	"os"
)

// secretFileWarnings names the secret files read (NAME_FILE variables and the configuration file's
// {file: PATH} credentials) that users other than their owner may read (mode bits 0o077): each a
// warning, not an error, since a container's mounted secrets are often 0644 inside a container no
// other user shares.
func secretFileWarnings(c *Config, getenv func(string) string) []string {
	var files [][2]string // as written, path
	for _, s := range settings {
		for _, name := range []string{s.Variable, s.Alt} {
			if s.Secret && name != "" {
				if p := getenv(name + fileSuffix); p != "" {
					files = append(files, [2]string{name + fileSuffix + "=" + p, p})
				}
			}
		}
	}
	for _, s := range c.Sources {
		files = append(files, s.secretFiles...)
	}
	var out []string
	for _, f := range files {
		fi, err := os.Stat(f[1])
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue // unreadable or refused: Load says so
		}
		out = append(out, fmt.Sprintf("%s: the secret file may be read by other users than its owner (mode %04o): "+
			"chmod 600 it, or 400", f[0], fi.Mode().Perm()))
	}
	return out
}
