package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vizjob/indexer/internal/syncer"
)

// liveLine is a progress line redrawn in place on a terminal. Log lines
// written through it clear the line first and redraw it after, so the two
// never mix; it is used only when the logs are text on a terminal (JSON logs
// get "sync progress" log lines instead).
type liveLine struct {
	mu   sync.Mutex
	w    io.Writer
	line string
}

const clearLine = "\r\033[K"

func (l *liveLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line != "" {
		_, _ = io.WriteString(l.w, clearLine)
	}
	n, err := l.w.Write(p)
	if l.line != "" {
		_, _ = io.WriteString(l.w, l.line)
	}
	return n, err
}

// set shows s as the progress line; "" removes it.
func (l *liveLine) set(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == "" && l.line == "" {
		return
	}
	l.line = s
	_, _ = io.WriteString(l.w, clearLine+s)
}

// progressText is the progress line of one run.
func progressText(p syncer.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", p.Source)
	if p.Walk > 1 {
		fmt.Fprintf(&b, "walk %d, ", p.Walk)
	}
	if p.PagesTotal > 0 {
		fmt.Fprintf(&b, "page %s of %s (%d%%), %s of %s jobs", thousands(int64(p.Pages)), thousands(int64(p.PagesTotal)),
			min(100, 100*p.Pages/p.PagesTotal), thousands(p.Jobs), thousands(p.Total))
	} else {
		fmt.Fprintf(&b, "page %s, %s jobs", thousands(int64(p.Pages)), thousands(p.Jobs))
	}
	fmt.Fprintf(&b, ", %.1f pages/s", p.Rate())
	if eta := p.ETA(); eta > 0 {
		fmt.Fprintf(&b, ", %s left", eta.Round(time.Second))
	}
	return b.String()
}

// thousands writes n with a space every three digits: 100 000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
