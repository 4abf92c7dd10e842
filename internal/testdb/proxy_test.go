package testdb

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestProxyCutsAndRefuses(t *testing.T) {
	t.Parallel()
	p, u := NewProxy(t, New(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func() (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnectTimeout = 5 * time.Second
		return pgx.ConnectConfig(ctx, cfg)
	}
	c, err := connect()
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	defer c.Close(ctx)
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 || p.Open() != 1 {
		t.Fatalf("query through the proxy: %v (open %d)", err, p.Open())
	}
	if n := p.CutAll(); n != 1 {
		t.Errorf("CutAll dropped %d connections, want 1", n)
	}
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Fatal("a query on a cut connection succeeded")
	}

	p.Refuse(true)
	if c2, err := connect(); err == nil {
		c2.Close(ctx)
		t.Fatal("connected while the proxy refuses")
	}
	p.Refuse(false)
	c3, err := connect()
	if err != nil {
		t.Fatalf("connect after Refuse(false): %v", err)
	}
	defer c3.Close(ctx)
	if err := c3.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if p.Accepted() < 3 {
		t.Errorf("accepted %d connections, want at least 3", p.Accepted())
	}
}
