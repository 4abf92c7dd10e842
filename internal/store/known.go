package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// What a full run knows of the source's stored jobs, so that a page in which nothing changed costs no
// round trip to the database.
//
// At its first page a full run reads, once, every stored job of the source: its id, a prefix of its
// fingerprint (content_sha256) and whether its row must be written whatever the page says (deleted, no
// fingerprint, last_seen_at due for a refresh). The run's lease on the source guarantees that
// no other run writes the source meanwhile, so what the run read stays true but for its own writes,
// which it notes (note, stale). A page's job is then decided in memory: unchanged and fresh (no
// write), certainly to write (fingerprint differs, or due), or to ask the database about (not known:
// a job new to the source, or last seen close to the refresh cutoff).
//
// What the run's walks listed, of these jobs and of others, is the run's seenSet (seen.go).
//
// Memory: 16 bytes a job (id and a fingerprint prefix of 8 bytes, outside the Go heap: allocTable)
// plus a few bits, 16 MB for a million jobs, given back when the run finishes. A prefix of 8 bytes lets a changed job pass for unchanged only if its new fingerprint
// agrees with the old one in all 64 bits: a chance of 2^-64 per changed job.

// refreshHorizon is how far past the refresh cutoff of the run's first page a job's last_seen_at must
// lie for the run to decide in memory that it is not due for a refresh; jobs closer to the cutoff are
// asked about (the cutoff moves with the clock while the run walks). A run longer than that asks
// about every known job from then on.
const refreshHorizon = time.Hour

const (
	knownCountSQL = `SELECT count(*) FROM modelarts.visualization_jobs WHERE source = $1::text`

	// $1 source, $2 the refresh cutoff, $3 the cutoff plus refreshHorizon.
	knownJobsSQL = `
		SELECT job_id, substring(content_sha256 FROM 1 FOR 8),
		       deleted_at IS NOT NULL OR content_sha256 IS NULL OR last_seen_at < $2::timestamptz,
		       deleted_at IS NOT NULL,
		       last_seen_at < $3::timestamptz
		FROM modelarts.visualization_jobs
		WHERE source = $1::text
		ORDER BY job_id`
)

// knownJobs is what a run read of the source's stored jobs at its first page, ordered by job id.
// What the run's walks listed of them is the run's seenSet's (seen.go).
type knownJobs struct {
	n       int
	table   []byte // n entries of 16 bytes: job id, then the first 8 bytes of content_sha256
	free    func() // gives table back
	due     bitset // to write whatever the page says: deleted, no fingerprint, or last seen before the cutoff
	deleted bitset // marked deleted when read (due too)
	near    bitset // last seen before cutoff + refreshHorizon: asked about
	cutoff  time.Time
}

// knownJob is one stored job as knownJobsSQL reads it.
type knownJob struct {
	id                 int64
	sum                []byte // the first 8 bytes of content_sha256; other lengths: not stored (due)
	due, deleted, near bool
}

// newKnownJobs makes room for n jobs read at the refresh cutoff cutoff; add fills it, in job id order.
func newKnownJobs(n int, cutoff time.Time) *knownJobs {
	k := &knownJobs{cutoff: cutoff, due: newBitset(n), deleted: newBitset(n), near: newBitset(n)}
	k.table, k.free = allocTable(16 * n)
	return k
}

// add appends j, whose id is greater than those added before.
func (k *knownJobs) add(j knownJob) error {
	i := k.n
	if 16*(i+1) > len(k.table) { // rows added since the count: impossible while the run holds the source's lease
		return fmt.Errorf("the source's jobs changed while they were read")
	}
	k.n++
	var s uint64
	if len(j.sum) == 8 {
		s = binary.BigEndian.Uint64(j.sum)
	} else {
		j.due = true
	}
	binary.LittleEndian.PutUint64(k.table[16*i:], uint64(j.id))
	binary.LittleEndian.PutUint64(k.table[16*i+8:], s)
	k.due.put(i, j.due)
	k.deleted.put(i, j.deleted)
	k.near.put(i, j.near)
	return nil
}

// loadKnown reads the source's stored jobs; cutoff is the refresh cutoff of the run's first page.
func loadKnown(ctx context.Context, conn *pgxpool.Conn, source string, cutoff time.Time) (*knownJobs, error) {
	var n int64
	if err := conn.QueryRow(ctx, knownCountSQL, source).Scan(&n); err != nil {
		return nil, err
	}
	k := newKnownJobs(int(n), cutoff)
	rows, err := conn.Query(ctx, knownJobsSQL, source, cutoff, cutoff.Add(refreshHorizon))
	if err != nil {
		k.release()
		return nil, err
	}
	var j knownJob
	_, err = pgx.ForEachRow(rows, []any{&j.id, &j.sum, &j.due, &j.deleted, &j.near}, func() error {
		return k.add(j)
	})
	if err != nil {
		k.release()
		return nil, err
	}
	return k, nil
}

// release gives the table back; k must not be used after.
func (k *knownJobs) release() {
	if k.free != nil {
		k.free()
	}
	k.table, k.free, k.n = nil, nil, 0
}

func (k *knownJobs) id(i int) int64   { return int64(binary.LittleEndian.Uint64(k.table[16*i:])) }
func (k *knownJobs) sum(i int) uint64 { return binary.LittleEndian.Uint64(k.table[16*i+8:]) }

// index returns the position of id, or -1 if the run did not know it (or knew nothing: k nil).
func (k *knownJobs) index(id int64) int {
	if k == nil {
		return -1
	}
	i := sort.Search(k.n, func(i int) bool { return k.id(i) >= id })
	if i < k.n && k.id(i) == id {
		return i
	}
	return -1
}

// decide says what the job at position i with fingerprint sum needs, at the refresh cutoff of its
// page.
func (k *knownJobs) decide(i int, sum []byte, cutoff time.Time) verdict {
	switch {
	case k.due.has(i) || binary.BigEndian.Uint64(sum) != k.sum(i):
		return write
	case k.near.has(i) || cutoff.After(k.cutoff.Add(refreshHorizon)):
		return ask
	}
	return skip
}

// written notes that the job at position i was sent to the database with fingerprint sum, in a
// transaction that committed: its stored fingerprint is sum, or its stored content equals what sum
// describes.
func (k *knownJobs) written(i int, sum []byte) {
	binary.LittleEndian.PutUint64(k.table[16*i+8:], binary.BigEndian.Uint64(sum))
}

// markDue notes that the job at position i must be written when listed again (it was marked deleted).
func (k *knownJobs) markDue(i int) { k.due.put(i, true) }

// bitset is a set of small non-negative integers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) put(i int, v bool) {
	if v {
		b[i/64] |= 1 << (i % 64)
	} else {
		b[i/64] &^= 1 << (i % 64)
	}
}
