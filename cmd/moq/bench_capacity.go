package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// capSearch searches the largest N that passes: doubling from start until
// the first N that fails (or max), then bisection between the last pass
// and the first fail until they are within the resolution. Next gives the N
// to probe, Report its outcome.
type capSearch struct {
	start, max int
	resPct     float64 // resolution, percent of the passing N
	resAbs     int     // resolution, subscribers (at least 1)
	pass       int     // largest N that passed (0: none)
	fail       int     // smallest N that failed (0: none)
	done       bool
	reason     string
}

func newCapSearch(start, maxN int, resPct float64, resAbs int) *capSearch {
	start = max(1, start)
	return &capSearch{start: start, max: max(start, maxN), resPct: resPct, resAbs: max(1, resAbs)}
}

// tolerance is the bracket width at which the search stops.
func (s *capSearch) tolerance() int {
	return max(s.resAbs, int(float64(s.pass)*s.resPct/100+0.999))
}

// Next returns the N to probe, or false when the search is over.
func (s *capSearch) Next() (int, bool) {
	if s.done {
		return 0, false
	}
	if s.fail == 0 {
		if s.pass >= s.max {
			s.done, s.reason = true, fmt.Sprintf("reached --capacity-max %d", s.max)
			return 0, false
		}
		if s.pass == 0 {
			return s.start, true
		}
		return min(2*s.pass, s.max), true
	}
	if s.fail-s.pass <= s.tolerance() {
		s.done, s.reason = true, "resolution reached"
		return 0, false
	}
	return (s.pass + s.fail) / 2, true
}

// Report records the outcome of probing n.
func (s *capSearch) Report(n int, ok bool) {
	if ok {
		s.pass = max(s.pass, n)
	} else if s.fail == 0 || n < s.fail {
		s.fail = n
	}
}

// capacityResult is the report of a --capacity search for one mode.
type capacityResult struct {
	P99BoundMs float64    `json:"p99_bound_ms"`
	Capacity   int        `json:"capacity"`   // largest N that passed (0: none)
	FirstFail  int        `json:"first_fail"` // smallest N that failed (0: none)
	Complete   bool       `json:"complete"`   // the resolution (or --capacity-max) was reached within the time bound
	Reason     string     `json:"stopped"`
	ElapsedS   float64    `json:"elapsed_s"`
	Probes     []capProbe `json:"probes"`
}

type capProbe struct {
	N         int     `json:"n"`
	Pass      bool    `json:"pass"`
	Why       string  `json:"why"`
	KeptUp    int     `json:"kept_up"`
	P99       float64 `json:"latency_p99_ms"`
	ServerCPU float64 `json:"server_cpu_cores"`
	Seconds   float64 `json:"seconds"`
}

// capConfig bounds a capacity search.
type capConfig struct {
	start, max int
	resPct     float64
	resAbs     int
	p99        time.Duration
	budget     time.Duration // for all modes together
}

// errDisturbed aborts a search: the machine was too busy to measure.
var errDisturbed = errors.New("too many runs disturbed by other CPU load; run on a quiet machine")

// judge decides whether a run at n passed: every subscriber kept up and p99
// within the bound.
func judge(r *benchResult, n int, bound time.Duration) (bool, string) {
	b := float64(bound) / 1e6
	switch {
	case r.KeptUp < n:
		return false, fmt.Sprintf("kept up %d/%d (p99 %.2f ms)", r.KeptUp, n, r.LatencyP99)
	case r.LatencyP99 > b:
		return false, fmt.Sprintf("p99 %.2f ms > %.0f ms (kept up %d/%d)", r.LatencyP99, b, r.KeptUp, n)
	}
	return true, fmt.Sprintf("kept up %d/%d, p99 %.2f ms <= %.0f ms", r.KeptUp, n, r.LatencyP99, b)
}

// runCapacity searches the capacity of each mode, the modes' probes
// interleaved (so that drifts of the machine affect all alike), within
// cfg.budget in all: a probe is not started when the time used plus that
// mode's previous probe's would exceed it (each mode's first probe always
// runs). probe measures mode at n. It returns per mode the search's report
// and the result of its largest passing probe (or of its last probe).
func runCapacity(ctx context.Context, modes []string, cfg capConfig, probe func(mode string, n int) (*benchResult, error), now func() time.Time, log io.Writer) ([]*capacityResult, []*benchResult, error) {
	searches := make([]*capSearch, len(modes))
	reports := make([]*capacityResult, len(modes))
	bestPass := make([]*benchResult, len(modes))
	lastRes := make([]*benchResult, len(modes))
	last := make([]time.Duration, len(modes))
	for i := range modes {
		searches[i] = newCapSearch(cfg.start, cfg.max, cfg.resPct, cfg.resAbs)
		reports[i] = &capacityResult{P99BoundMs: float64(cfg.p99) / 1e6}
	}
	t0 := now()
	for {
		progressed := false
		for i, mode := range modes {
			s := searches[i]
			if s.done {
				continue
			}
			n, ok := s.Next()
			if !ok {
				continue
			}
			if last[i] > 0 && now().Sub(t0)+last[i] > cfg.budget {
				s.done, s.reason = true, fmt.Sprintf("time bound (--capacity-time %v)", cfg.budget)
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			progressed = true
			p0 := now()
			r, err := probe(mode, n)
			last[i] = now().Sub(p0)
			var pass bool
			var why string
			switch {
			case errors.Is(err, errDisturbed) || ctx.Err() != nil:
				if err == nil {
					err = ctx.Err()
				}
				return nil, nil, err
			case err != nil:
				why = "error: " + err.Error()
			default:
				pass, why = judge(r, n, cfg.p99)
			}
			s.Report(n, pass)
			p := capProbe{N: n, Pass: pass, Why: why, Seconds: last[i].Seconds()}
			if r != nil {
				p.KeptUp, p.P99, p.ServerCPU = r.KeptUp, r.LatencyP99, r.ServerCPU
				lastRes[i] = r
				if pass && (bestPass[i] == nil || n > bestPass[i].Subscribers) {
					bestPass[i] = r
				}
			}
			reports[i].Probes = append(reports[i].Probes, p)
			verdict := map[bool]string{true: "pass", false: "FAIL"}[pass]
			fmt.Fprintf(log, "moq bench: capacity %s: N=%d %s: %s [%.0fs, %.0fs of %v used]\n", mode, n, verdict, why, last[i].Seconds(), now().Sub(t0).Seconds(), cfg.budget)
		}
		if !progressed {
			break
		}
	}
	best := make([]*benchResult, len(modes))
	for i, s := range searches {
		best[i] = bestPass[i]
		if best[i] == nil {
			best[i] = lastRes[i]
		}
		r := reports[i]
		r.Capacity, r.FirstFail = s.pass, s.fail
		r.Reason = s.reason
		r.Complete = s.reason != "" && !isTimeBound(s.reason)
		r.ElapsedS = now().Sub(t0).Seconds()
	}
	return reports, best, nil
}

func isTimeBound(reason string) bool { return strings.HasPrefix(reason, "time bound") }
