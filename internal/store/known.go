package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
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
// The jobs the run lists are remembered here too, one bit per known job and walk, instead of rows of
// the run's seen table: only jobs the run did not know at its start go to that table. The deletion
// candidates and MarkDeleted get the known jobs the last walk did not list from here.
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
type knownJobs struct {
	n       int
	table   []byte // n entries of 16 bytes: job id, then the first 8 bytes of content_sha256
	free    func() // gives table back
	due     bitset // to write whatever the page says: deleted, no fingerprint, or last seen before the cutoff
	deleted bitset // marked deleted when read (due too)
	near    bitset // last seen before cutoff + refreshHorizon: asked about
	cutoff  time.Time
	seen    []bitset // seen[w-1]: listed by walk w
	counted []int64  // counted[w-1]: bits set in seen[w-1]
}

// loadKnown reads the source's stored jobs; cutoff is the refresh cutoff of the run's first page.
func loadKnown(ctx context.Context, conn *pgxpool.Conn, source string, cutoff time.Time) (*knownJobs, error) {
	var n int64
	if err := conn.QueryRow(ctx, knownCountSQL, source).Scan(&n); err != nil {
		return nil, err
	}
	k := &knownJobs{cutoff: cutoff, due: newBitset(int(n)), deleted: newBitset(int(n)), near: newBitset(int(n))}
	k.table, k.free = allocTable(16 * int(n))
	rows, err := conn.Query(ctx, knownJobsSQL, source, cutoff, cutoff.Add(refreshHorizon))
	if err != nil {
		k.release()
		return nil, err
	}
	var (
		id                 int64
		sum                []byte
		due, deleted, near bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &sum, &due, &deleted, &near}, func() error {
		i := k.n
		if i == int(n) { // rows added since the count: impossible while the run holds the source's lease
			return fmt.Errorf("the source's jobs changed while they were read")
		}
		k.n++
		var s uint64
		if len(sum) == 8 {
			s = binary.BigEndian.Uint64(sum)
		} else {
			due = true
		}
		binary.LittleEndian.PutUint64(k.table[16*i:], uint64(id))
		binary.LittleEndian.PutUint64(k.table[16*i+8:], s)
		k.due.put(i, due)
		k.deleted.put(i, deleted)
		k.near.put(i, near)
		return nil
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

// knownIndex returns the position of id among the jobs the run knew from its start, or -1.
func (r *Run) knownIndex(id int64) int {
	if r.known == nil {
		return -1
	}
	return r.known.index(id)
}

// index returns the position of id, or -1 if the run did not know it.
func (k *knownJobs) index(id int64) int {
	i := sort.Search(k.n, func(i int) bool { return k.id(i) >= id })
	if i < k.n && k.id(i) == id {
		return i
	}
	return -1
}

// Verdicts of decide.
const (
	unknown   = iota // ask the database (stored_fingerprints.sql)
	unchanged        // no write
	toWrite          // write: the database compares in full and writes only what changed
)

// decide says what a job at position i with fingerprint sum needs, at the refresh cutoff of its page.
func (k *knownJobs) decide(i int, sum []byte, cutoff time.Time) int {
	switch {
	case k.due.has(i) || binary.BigEndian.Uint64(sum) != k.sum(i):
		return toWrite
	case k.near.has(i) || cutoff.After(k.cutoff.Add(refreshHorizon)):
		return unknown
	}
	return unchanged
}

// written notes that the job at position i was sent to the database with fingerprint sum, in a
// transaction that committed: its stored fingerprint is sum, or its stored content equals what sum
// describes.
func (k *knownJobs) written(i int, sum []byte) {
	binary.LittleEndian.PutUint64(k.table[16*i+8:], binary.BigEndian.Uint64(sum))
}

// markDue notes that the job at position i must be written when listed again (it was marked deleted).
func (k *knownJobs) markDue(i int) { k.due.put(i, true) }

// see notes that walk listed the job at position i.
func (k *knownJobs) see(walk, i int) {
	for len(k.seen) < walk {
		k.seen = append(k.seen, newBitset(k.n))
		k.counted = append(k.counted, 0)
	}
	if !k.seen[walk-1].has(i) {
		k.seen[walk-1].put(i, true)
		k.counted[walk-1]++
	}
}

// seenBy is how many known jobs walk listed.
func (k *knownJobs) seenBy(walk int) int64 {
	if walk < 1 || walk > len(k.counted) {
		return 0
	}
	return k.counted[walk-1]
}

// seenAny is how many known jobs any walk listed.
func (k *knownJobs) seenAny() int64 {
	if len(k.seen) == 1 {
		return k.counted[0]
	}
	var n int64
	for w := range k.n/64 + 1 {
		var word uint64
		for _, s := range k.seen {
			if w < len(s) {
				word |= s[w]
			}
		}
		n += int64(bits.OnesCount64(word))
	}
	return n
}

// lastSeen is the last walk that listed the job at position i, 0 if none did.
func (k *knownJobs) lastSeen(i int) int {
	for w := len(k.seen); w >= 1; w-- {
		if k.seen[w-1].has(i) {
			return w
		}
	}
	return 0
}

// missed returns the known jobs walk did not list and that may be live (not deleted when read, or
// listed by an earlier walk of the run, which undeleted them), with the last walk that listed each
// (0: none).
func (k *knownJobs) missed(walk int) (ids []int64, walks []int32) {
	ids, walks = []int64{}, []int32{}
	for i := range k.n {
		last := k.lastSeen(i)
		if last >= walk || (last == 0 && k.deleted.has(i)) {
			continue
		}
		ids = append(ids, k.id(i))
		walks = append(walks, int32(last))
	}
	return ids, walks
}

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
