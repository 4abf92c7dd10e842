package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigNeverPrintsSecrets(t *testing.T) {
	for _, db := range []string{
		"postgres://indexer:DBSECRET@db:5432/mirror?sslmode=disable",
		"postgres://indexer@db/mirror?password=DBSECRET",
		"host=db user=indexer password=DBSECRET dbname=mirror",
		"host=db password='DB SECRET' dbname=mirror",
		// A regular expression once missed these: a password with @ and a host list.
		"postgres://indexer:DB@SECRET@db:5432/mirror",
		"postgres://indexer:DBSECRET@db:5432,db2:5432/mirror",
		"postgres://indexer:DB/SECRET@db/mirror",
		`host=db password='DB\' SECRET' dbname=mirror`,
		`host=db password=DB\ SECRET dbname=mirror`,
	} {
		c := Config{DatabaseURL: db, Sources: []Source{{Name: "s", ProjectID: "p", AK: "ak", SK: "SKSECRET", Password: "PWSECRET", SecurityToken: "STSECRET"}}}
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
		for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c), logged.String()} {
			for _, secret := range []string{"DBSECRET", "DB SECRET", "SECRET@", "SECRET", "SKSECRET", "PWSECRET", "STSECRET"} {
				if strings.Contains(out, secret) {
					t.Errorf("%q leaks %s", out, secret)
				}
			}
			if !strings.Contains(out, "db") {
				t.Errorf("%q does not say which database", out)
			}
		}
	}
}
