package statuspage

import (
	"fmt"
	"math"
	"strings"

	"github.com/vizjob/indexer/internal/store"
)

// chart is an SVG bar chart laid out on the server: the template only draws what is here.
type chart struct {
	Title  string // accessible name of the SVG
	Width  int
	Height int
	Bars   []bar
	Texts  []text
	Lines  []line
	Empty  string // shown instead of the chart when there is nothing to draw
}

type bar struct {
	X, Y, W, H float64
	Class      string // CSS class (status group), for the colour
	Tip        string // tooltip (an SVG <title>)
}

type text struct {
	X, Y   float64
	Anchor string // start, middle, end
	Class  string
	Text   string
}

type line struct{ X1, Y1, X2, Y2 float64 }

func r1(x float64) float64 { return math.Round(x*10) / 10 }

// statusChart draws one horizontal bar per status, most jobs first.
func statusChart(counts []store.StatusCount) chart {
	const (
		width, rowH, barH = 460, 21, 14
		labelW, valueW    = 178, 48
		top               = 4
	)
	c := chart{Title: "Live jobs by status", Width: width, Height: top*2 + rowH*max(len(counts), 1)}
	if len(counts) == 0 {
		c.Empty = "No job yet."
		return c
	}
	var most int64 = 1
	for _, s := range counts {
		most = max(most, s.Jobs)
	}
	plot := float64(width - labelW - valueW)
	for i, s := range counts {
		y := float64(top + i*rowH)
		w := math.Max(1, plot*float64(s.Jobs)/float64(most))
		c.Bars = append(c.Bars, bar{
			X: labelW, Y: r1(y + (rowH-barH)/2), W: r1(w), H: barH, Class: "g-" + s.Group,
			Tip: fmt.Sprintf("%s (code %d, %s): %d jobs", s.Name, s.Status, s.Group, s.Jobs),
		})
		c.Texts = append(c.Texts,
			text{X: labelW - 6, Y: r1(y + rowH/2 + 4), Anchor: "end", Class: "lbl", Text: strings.TrimPrefix(s.Name, "JOBSTAT_")},
			text{X: r1(labelW + w + 5), Y: r1(y + rowH/2 + 4), Anchor: "start", Class: "val", Text: fmt.Sprint(s.Jobs)},
		)
	}
	return c
}

// createdChart draws one vertical bar per day, today last. Days are UTC days (StatusReport), and the
// title and every bar say so: the documented query 06 counts days in the session's time zone.
func createdChart(days []store.DayCount) chart {
	labels := make([]string, len(days))
	tips := make([]string, len(days))
	values := make([]int64, len(days))
	for i, d := range days {
		values[i] = d.Jobs
		tips[i] = fmt.Sprintf("%s UTC: %d jobs created", d.Day.Format("Mon 2006-01-02"), d.Jobs)
		if (len(days)-1-i)%7 == 0 { // a label every week, counted back from today
			labels[i] = d.Day.Format("Jan 2")
		}
	}
	c := columns(fmt.Sprintf("Jobs created per UTC day, last %d days", len(days)), labels, values, tips, "g-created", false)
	var total int64
	for _, v := range values {
		total += v
	}
	if total == 0 {
		c.Empty = fmt.Sprintf("No job was created in the last %d days: nothing to draw.", len(days))
	}
	return c
}

// durationChart draws the histogram of run times.
func durationChart(buckets []store.DurationBucket) chart {
	labels := make([]string, len(buckets))
	tips := make([]string, len(buckets))
	values := make([]int64, len(buckets))
	var total int64
	for i, b := range buckets {
		labels[i] = durationLabel(b)
		values[i] = b.Jobs
		tips[i] = fmt.Sprintf("run time %s: %d jobs", labels[i], b.Jobs)
		total += b.Jobs
	}
	c := columns("Run time of live jobs that have run", labels, values, tips, "g-duration", true)
	if total == 0 {
		c.Empty = "No job has run yet."
	}
	return c
}

// columns lays out a vertical bar chart with a light grid; labels[i] (if not empty) goes under bar i,
// and withValues writes each value above its bar.
func columns(title string, labels []string, values []int64, tips []string, class string, withValues bool) chart {
	const (
		width, height            = 520, 200
		left, right, top, bottom = 40, 24, 16, 24
	)
	c := chart{Title: title, Width: width, Height: height}
	if len(values) == 0 {
		return c
	}
	var most int64
	for _, v := range values {
		most = max(most, v)
	}
	scale := niceCeil(most)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	base := float64(top) + plotH
	for _, g := range []int64{0, scale / 2, scale} {
		y := r1(base - plotH*float64(g)/float64(scale))
		c.Lines = append(c.Lines, line{X1: left, Y1: y, X2: width - right, Y2: y})
		c.Texts = append(c.Texts, text{X: left - 5, Y: y + 4, Anchor: "end", Class: "axis", Text: fmt.Sprint(g)})
	}
	slot := plotW / float64(len(values))
	bw := math.Max(1, slot*0.72)
	for i, v := range values {
		x := float64(left) + slot*float64(i) + (slot-bw)/2
		h := plotH * float64(v) / float64(scale)
		if v > 0 {
			h = math.Max(h, 1)
		}
		c.Bars = append(c.Bars, bar{X: r1(x), Y: r1(base - h), W: r1(bw), H: r1(h), Class: class, Tip: tips[i]})
		mid := r1(x + bw/2)
		if labels[i] != "" {
			c.Texts = append(c.Texts, text{X: mid, Y: base + 16, Anchor: "middle", Class: "axis", Text: labels[i]})
		}
		if withValues && v > 0 {
			c.Texts = append(c.Texts, text{X: mid, Y: r1(base - h - 4), Anchor: "middle", Class: "val", Text: fmt.Sprint(v)})
		}
	}
	return c
}

// niceCeil rounds n up to 2, 4, 6, 8 or 10 times a power of ten, so that the axis and its middle grid
// line are round numbers.
func niceCeil(n int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{2, 4, 6, 8, 10} {
			if m*p >= n {
				return m * p
			}
		}
	}
}
