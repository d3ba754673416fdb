package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bench frames carry, in their first 16 bytes, the send time (Unix
// nanoseconds) and the frame's index in the stream of frames; the rest is
// padding up to the frame size.
const benchHeader = 16

// traffic is the shape of the benchmark's one track.
type traffic struct {
	bitrate     int // bytes per second
	frameSize   int
	groupFrames int
}

func (t traffic) interval() time.Duration {
	return time.Duration(float64(time.Second) * float64(t.frameSize) / float64(t.bitrate))
}

func (t traffic) args() []string {
	return []string{"--bitrate", strconv.Itoa(t.bitrate), "--frame-size", strconv.Itoa(t.frameSize), "--group-frames", strconv.Itoa(t.groupFrames)}
}

// pace calls emit for every frame at the traffic's rate until stop is
// closed. emit gets the frame's index and a fresh payload.
func (t traffic) pace(stop <-chan struct{}, emit func(idx uint64, payload []byte)) {
	iv := t.interval()
	start := time.Now()
	for i := uint64(0); ; i++ {
		next := start.Add(time.Duration(i) * iv)
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-stop:
				return
			}
		} else {
			select {
			case <-stop:
				return
			default:
			}
		}
		p := make([]byte, t.frameSize)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(p[8:], i)
		emit(i, p)
	}
}

// recorder collects what one subscriber received.
type recorder struct {
	mu        sync.Mutex
	start     int64 // measurement window, Unix ns of send time
	end       int64
	latencies []time.Duration
	bytes     int64
	minIdx    uint64
	maxIdx    uint64
	frames    int64
	dropped   int64 // groups reset before they were complete, in the window
}

// groupDropped records a group the relay dropped (reset) for being too far
// behind.
func (r *recorder) groupDropped() {
	r.mu.Lock()
	if r.start != 0 && time.Now().UnixNano() >= r.start {
		r.dropped++
	}
	r.mu.Unlock()
}

func (r *recorder) setWindow(start, end time.Time) {
	r.mu.Lock()
	r.start, r.end = start.UnixNano(), end.UnixNano()
	r.mu.Unlock()
}

// frame records one received payload.
func (r *recorder) frame(p []byte) {
	if len(p) < benchHeader {
		return
	}
	now := time.Now().UnixNano()
	sent := int64(binary.BigEndian.Uint64(p))
	idx := binary.BigEndian.Uint64(p[8:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start == 0 || sent < r.start || sent >= r.end {
		return
	}
	r.latencies = append(r.latencies, time.Duration(now-sent))
	r.bytes += int64(len(p))
	if r.frames == 0 || idx < r.minIdx {
		r.minIdx = idx
	}
	if idx > r.maxIdx {
		r.maxIdx = idx
	}
	r.frames++
}

// clientResult is what the clients process reports.
type clientResult struct {
	Subscribers    int     `json:"subscribers"`
	Connected      int     `json:"connected"`
	KeptUp         int     `json:"kept_up"`
	Offered        int64   `json:"offered_frames"`
	FramesReceived int64   `json:"frames_received"`
	DeliveredMBps  float64 `json:"delivered_mbps"`
	FramesPerSec   float64 `json:"frames_per_sec"`
	LatencyP50     float64 `json:"latency_p50_ms"`
	LatencyP99     float64 `json:"latency_p99_ms"`
	LatencyMax     float64 `json:"latency_max_ms"`
	MinReceived    float64 `json:"min_received_ratio"`
	GroupsDropped  int64   `json:"groups_dropped"`
	MaxDropped     int64   `json:"max_groups_dropped_per_subscriber"`
}

// summarize merges the subscribers' records over a window of d.
func summarize(recs []*recorder, d time.Duration) clientResult {
	var res clientResult
	res.Subscribers = len(recs)
	var all []time.Duration
	var minIdx, maxIdx uint64
	first := true
	for _, r := range recs {
		r.mu.Lock()
		if r.frames > 0 {
			if first || r.minIdx < minIdx {
				minIdx = r.minIdx
			}
			if first || r.maxIdx > maxIdx {
				maxIdx = r.maxIdx
			}
			first = false
		}
		r.mu.Unlock()
	}
	if !first {
		res.Offered = int64(maxIdx - minIdx + 1)
	}
	res.MinReceived = 1
	for _, r := range recs {
		r.mu.Lock()
		all = append(all, r.latencies...)
		res.FramesReceived += r.frames
		res.GroupsDropped += r.dropped
		res.MaxDropped = max(res.MaxDropped, r.dropped)
		res.DeliveredMBps += float64(r.bytes) / d.Seconds() / 1e6
		ratio := 0.0
		if res.Offered > 0 {
			ratio = float64(r.frames) / float64(res.Offered)
		}
		if ratio >= 0.99 {
			res.KeptUp++
		}
		res.MinReceived = min(res.MinReceived, ratio)
		r.mu.Unlock()
	}
	res.FramesPerSec = float64(res.FramesReceived) / d.Seconds()
	if len(all) > 0 {
		slices.Sort(all)
		ms := func(x time.Duration) float64 { return float64(x) / 1e6 }
		res.LatencyP50 = ms(all[len(all)/2])
		res.LatencyP99 = ms(all[len(all)*99/100])
		res.LatencyMax = ms(all[len(all)-1])
	}
	return res
}

// parseBytes parses sizes such as 1MB, 500KB, 1000 (bytes, decimal units).
func parseBytes(s string) (int, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"MB", 1_000_000}, {"KB", 1_000}, {"B", 1}} {
		if strings.HasSuffix(u, suf.s) {
			u, mult = strings.TrimSuffix(u, suf.s), suf.m
			break
		}
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 1MB, 500KB, 1000)", s)
	}
	return int(f * float64(mult)), nil
}

// startCPUProfile writes a CPU profile to path until the returned function
// is called; with an empty path it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
