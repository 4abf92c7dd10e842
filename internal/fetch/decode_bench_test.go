package fetch_test

import (
	"bytes"
	"testing"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
)

// BenchmarkDecodePage decodes a page of 100 jobs as the simulator serves them (the client's main
// CPU cost in a walk). go test -bench DecodePage -benchmem ./internal/fetch
func BenchmarkDecodePage(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"is_success":true,"quotas":1000,"job_total_count":100,"job_count_limit":900,"jobs":[`)
	for i, j := range simulator.New(simulator.Options{Jobs: 100, Seed: 1}).Jobs() {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(j.Raw)
	}
	body.WriteString(`]}`)
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		p, err := fetch.DecodePage(body.Bytes())
		if err != nil || len(p.Jobs) != 100 {
			b.Fatalf("%d jobs, %v", len(p.Jobs), err)
		}
	}
}
