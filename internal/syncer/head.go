package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
)

// The head walk: a cheap run between full walks, for history as fresh as its schedule (every minute,
// say) at any tenant size. Almost all change happens in two places: new jobs, and jobs in a status
// that is not final. So a head walk
//
//  1. lists the newest jobs, newest first, down to the newest create_time the mirror held before (less
//     HeadSkew, for clocks that differ between API servers), at most HeadMaxNewPages pages;
//  2. for each status that is not final and in which the mirror holds live jobs, lists the jobs in
//     that status (the status filter: one request per 100 such jobs);
//  3. asks the detail call about the jobs the mirror holds in such a status that its listing no
//     longer shows (they changed status, or were deleted), at most HeadDetailBudget of them.
//
// It upserts what it sees with the same history rules as a full walk and never marks a deletion:
// only a full walk, with the evidence rules, does. Its requests do not grow with the number of jobs:
// at most HeadMaxNewPages + (active statuses + active jobs / page size) + HeadDetailBudget, typically
// 1 + a few + the number of status changes since the last head walk. If the status filter returns a
// job in another status, the filter is not trusted for the rest of the run and the remaining active
// jobs are asked about one by one (within the budget).

// Defaults of a head walk.
const (
	DefaultHeadMaxNewPages  = 5
	DefaultHeadDetailBudget = 20
	// HeadSkew is how far below the newest create_time the mirror held a head walk keeps listing new
	// jobs: jobs created within the same second on different API servers are not strictly ordered.
	HeadSkew = 5 * time.Minute
)

// head runs one head walk (Options.Kind == store.KindHead).
func (s *syncRun) head(ctx context.Context) error {
	s.stats.Walks = 1
	var notes []string
	if more, err := s.headNewest(ctx); err != nil {
		return err
	} else if more {
		notes = append(notes, fmt.Sprintf("more new jobs than %d pages; the next full walk lists the rest", s.opts.HeadMaxNewPages))
	}
	left, capped, err := s.headActive(ctx)
	if err != nil {
		return err
	}
	if len(capped) > 0 {
		notes = append(notes, fmt.Sprintf("more jobs in status %v than the page cap allowed (the mirror held fewer); the next full walk lists the rest", capped))
	}
	if len(s.headPages) > 0 {
		notes = append(notes, s.headPages[0]+"; run `indexer probe` to see how the endpoint numbers its pages")
	}
	budget := s.opts.HeadDetailBudget
	unchecked := 0
	for _, id := range left {
		if budget == 0 {
			unchecked++
			continue
		}
		budget--
		j, err := s.src.GetJob(ctx, id)
		switch {
		case err == nil && j != nil && j.ID == id:
			if err := s.upsert(ctx, []fetch.Job{*j}); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			// Deleted, or no answer: the full walk settles it.
			s.log.Debug("head walk: a job that left its status could not be read; left to the full walk", "job_id", id, "error", err)
		}
	}
	if unchecked > 0 {
		notes = append(notes, fmt.Sprintf("%d jobs that left their status were not read (budget %d); the next head or full walk reads them", unchecked, s.opts.HeadDetailBudget))
	}
	if n, err := s.run.SeenCount(ctx); err == nil {
		s.stats.JobsSeen = n
	}
	if len(notes) > 0 {
		return fmt.Errorf("%w: head walk: %s", ErrPartial, notes[0])
	}
	return nil
}

// upsert stores jobs and counts what changed.
func (s *syncRun) upsert(ctx context.Context, jobs []fetch.Job) error {
	pr, err := s.run.UpsertPage(ctx, Rows(jobs), s.opts.Now())
	if err != nil {
		return err
	}
	s.stats.Inserted += int64(pr.Inserted)
	s.stats.Updated += int64(pr.Updated)
	return nil
}

// headNewest lists the newest jobs down to what the mirror held. It reports whether it stopped at
// its page cap with the listing still newer than the mirror.
func (s *syncRun) headNewest(ctx context.Context) (more bool, err error) {
	newest, err := s.run.NewestCreateTime(ctx)
	if err != nil {
		return false, err
	}
	floor := newest.Add(-HeadSkew).UnixMilli()
	for page := 1; ; page++ {
		p, err := s.src.ListPage(ctx, fetch.Query{Page: page, PerPage: s.opts.PerPage, SortBy: fetch.SortCreateTime, Order: "desc"})
		if err != nil {
			return false, fmt.Errorf("head walk, newest jobs, page %d: %w", page, err)
		}
		s.stats.Pages++
		if page == 1 {
			s.stats.APITotalCount = p.TotalCount
		}
		if _, err := s.bad.keep(ctx, 1, p.BadItems); err != nil {
			return false, err
		}
		s.stats.BadItems += int64(len(p.BadItems))
		if err := s.upsert(ctx, p.Jobs); err != nil {
			return false, err
		}
		oldest := int64(-1)
		for _, j := range p.Jobs {
			if oldest < 0 || j.CreateTime < oldest {
				oldest = j.CreateTime
			}
		}
		switch {
		case len(p.Jobs)+len(p.BadItems) < s.opts.PerPage:
			return false, nil // the listing ended
		case newest.IsZero() || oldest >= 0 && oldest < floor:
			return false, nil // reached what the mirror held (an empty mirror: the full walk fills it)
		case page >= s.opts.HeadMaxNewPages:
			return true, nil
		}
	}
}

// headActive lists the jobs of every status that is not final in which the mirror holds live jobs,
// and returns the jobs the mirror holds in such a status that the listings did not show. A status
// listing is capped at a few pages more than the mirror holds in that status (a server that ignores
// the filter would otherwise list the whole tenant); one that reaches the cap with the filter
// honoured (many jobs entered the status since the mirror last saw them, or the mirror never held
// them) keeps what it stored, is reported in capped, and adds nothing to left: its unlisted jobs may
// be on the pages not read.
func (s *syncRun) headActive(ctx context.Context) (left []int64, capped []int, err error) {
	statuses, err := s.run.ActiveStatuses(ctx)
	if err != nil {
		return nil, nil, err
	}
	filterOK := true
	for _, st := range statuses {
		held, err := s.run.JobIDsInStatus(ctx, st.Status)
		if err != nil {
			return nil, nil, err
		}
		if !filterOK {
			left = append(left, held...)
			continue
		}
		status := st.Status
		var listed []int64
		wr, err := fetch.Walk(ctx, s.src, fetch.WalkOptions{PerPage: s.opts.PerPage, Status: &status,
			MaxPages: int(st.Jobs)/s.opts.PerPage + 3},
			func(ctx context.Context, p *fetch.Page) error {
				var keep []fetch.Job
				for _, j := range p.Jobs {
					if j.Status != status {
						filterOK = false
					}
					keep = append(keep, j)
					listed = append(listed, j.ID)
				}
				return s.upsert(ctx, keep)
			})
		s.stats.Pages += wr.Pages
		var capErr *fetch.PageCapError
		var pagesErr *fetch.PagesError
		switch overCap := errors.As(err, &capErr); {
		case overCap && !filterOK:
			err = nil // a filter that is ignored lists everything: the page cap ends it
		case overCap:
			capped = append(capped, status)
			continue
		case errors.As(err, &pagesErr):
			// Its unlisted jobs may be on pages the walk could not reach: like a capped status, it
			// keeps what it stored and adds nothing to left.
			s.log.Warn("head walk: the pages of a status listing cannot be walked as documented", "status", status, "error", err)
			s.headPages = append(s.headPages, fmt.Sprintf("status %d: %v", status, err))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("head walk, status %d: %w", status, err)
		}
		if !filterOK {
			s.log.Warn("head walk: the status filter returned jobs in another status; asking about active jobs one by one", "status", status)
		}
		slices.Sort(listed)
		for _, id := range held {
			if _, ok := slices.BinarySearch(listed, id); !ok {
				left = append(left, id)
			}
		}
	}
	return left, capped, nil
}
