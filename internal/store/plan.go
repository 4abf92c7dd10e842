package store

import (
	"strconv"
	"time"
)

// The plan of a page: what each of its jobs needs, decided before anything is written, from what the
// run knows (known.go) and nothing else. Pure: planPage reads no database and changes nothing.

// verdict is what a job of a page needs.
type verdict int8

const (
	ask   verdict = iota // look it up in the database (stored_fingerprints.sql), then write or skip
	skip                 // unchanged and recently seen: no write
	write                // send it on: the database compares in full and writes only what changed
)

// pagePlan is the plan of a page whose jobs are distinct.
type pagePlan struct {
	verdicts []verdict // per job of the page
	known    []int     // per job of the page: its position among the jobs the run knew from its start, or -1
}

// planPage plans a page of jobs with fingerprints sums (parallel), at the refresh cutoff cutoff. In a
// first sync (first) there is nothing to compare with: every job is written. Otherwise a job the run
// knew is decided in memory (knownJobs.decide) and any other is asked about.
func planPage(k *knownJobs, first bool, jobs []Job, sums [][]byte, cutoff time.Time) pagePlan {
	p := pagePlan{verdicts: make([]verdict, len(jobs)), known: make([]int, len(jobs))}
	for i, j := range jobs {
		p.known[i] = k.index(j.JobID)
		switch {
		case first:
			p.verdicts[i] = write
		case p.known[i] >= 0:
			p.verdicts[i] = k.decide(p.known[i], sums[i], cutoff)
		default:
			p.verdicts[i] = ask
		}
	}
	return p
}

// with returns the positions of the jobs whose verdict is v.
func (p pagePlan) with(v verdict) []int {
	var out []int
	for i, w := range p.verdicts {
		if w == v {
			out = append(out, i)
		}
	}
	return out
}

func (v verdict) String() string {
	switch v {
	case ask:
		return "ask"
	case skip:
		return "skip"
	case write:
		return "write"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}
