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
	"sync/atomic"
	"time"
)

// Bench frames carry, in their first 16 bytes, the send time (Unix
// nanoseconds), then the track's number (top byte) and the frame's index in
// that track's stream of frames (low 56 bits); the rest is padding up to the
// frame size.
const benchHeader = 16

const (
	trackShift = 56
	idxMask    = 1<<trackShift - 1
	maxTracks  = 4
)

// traffic is the benchmark's traffic: a profile and, for the data profile,
// its shape.
type traffic struct {
	profile     string // "data" (default) or "video"
	bitrate     int    // data: bytes per second
	frameSize   int    // data: bytes per frame
	groupFrames int    // data: frames per group
}

// trackShape is one track of a profile.
type trackShape struct {
	name        string
	interval    time.Duration // between frames
	frameSize   int           // bytes of a frame
	keySize     int           // bytes of a group's first frame
	groupFrames int           // frames per group (one stream each)
}

// The video profile (issue 16, target 3: what @moq/publish produces): a
// video track of 2.5 Mbit/s at 30 fps in 2 s groups whose keyframe is 10×
// a delta frame, and an audio track of 128 kbit/s at 50 frames/s, one group
// per frame.
const (
	videoBitrate = 2_500_000 / 8 // bytes/s
	videoFPS     = 30
	videoGroup   = 60 // frames: 2 s
	videoKey     = 10 // keyframe / delta frame
	audioBitrate = 128_000 / 8
	audioFPS     = 50
)

func (t traffic) tracks() []trackShape {
	if t.profile == "video" {
		delta := videoBitrate * videoGroup / videoFPS / (videoGroup - 1 + videoKey)
		return []trackShape{
			{name: "video", interval: time.Second / videoFPS, frameSize: delta, keySize: videoKey * delta, groupFrames: videoGroup},
			{name: "audio", interval: time.Second / audioFPS, frameSize: audioBitrate / audioFPS, keySize: audioBitrate / audioFPS, groupFrames: 1},
		}
	}
	return []trackShape{{
		name:        "t",
		interval:    time.Duration(float64(time.Second) * float64(t.frameSize) / float64(t.bitrate)),
		frameSize:   t.frameSize,
		keySize:     t.frameSize,
		groupFrames: t.groupFrames,
	}}
}

// bytesPerSec is what one subscriber receives per second, all tracks.
func (t traffic) bytesPerSec() float64 {
	var b float64
	for _, s := range t.tracks() {
		b += float64(s.keySize+(s.groupFrames-1)*s.frameSize) / float64(s.groupFrames) / s.interval.Seconds()
	}
	return b
}

func (t traffic) describe() string {
	if t.profile == "video" {
		ts := t.tracks()
		return fmt.Sprintf("video profile: video %d fps, %d-frame groups, keyframe %d B, delta %d B (%.1f Mbit/s); audio %d frames/s of %d B, one group each (%.0f kbit/s)",
			videoFPS, videoGroup, ts[0].keySize, ts[0].frameSize, float64(videoBitrate*8)/1e6, audioFPS, ts[1].frameSize, float64(audioBitrate*8)/1e3)
	}
	return fmt.Sprintf("data profile: %d B/s, %d-byte frames (%.0f frames/s), %d frames per group",
		t.bitrate, t.frameSize, float64(t.bitrate)/float64(t.frameSize), t.groupFrames)
}

func (t traffic) args() []string {
	return []string{"--profile", t.profile, "--bitrate", strconv.Itoa(t.bitrate), "--frame-size", strconv.Itoa(t.frameSize), "--group-frames", strconv.Itoa(t.groupFrames)}
}

// pace calls emit for every frame of the track numbered track at its rate
// until stop is closed. emit gets the frame's group sequence and a fresh
// payload (stamped).
func (s trackShape) pace(track int, stop <-chan struct{}, emit func(group uint64, payload []byte)) {
	start := time.Now()
	for i := uint64(0); ; i++ {
		next := start.Add(time.Duration(i) * s.interval)
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
		size := s.frameSize
		if i%uint64(s.groupFrames) == 0 {
			size = s.keySize
		}
		p := make([]byte, size)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(p[8:], uint64(track)<<trackShift|i)
		emit(i/uint64(s.groupFrames), p)
	}
}

// trackRec is what one subscriber received of one track in the window.
type trackRec struct {
	latencies []time.Duration
	bytes     int64
	frames    int64
	minIdx    uint64
	maxIdx    uint64
}

// recorder collects what one subscriber received.
type recorder struct {
	mu      sync.Mutex
	start   int64 // measurement window, Unix ns of send time
	end     int64
	tracks  [maxTracks]trackRec
	dropped int64 // groups reset before they were complete, in the window

	// A second window (the crowd's arrival), all tracks together.
	c0, c1   int64
	crowdLat []time.Duration

	first atomic.Int64 // Unix ns of the first frame received, window or not
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

// setCrowdWindow sets the second window's bounds (Unix ns of send time).
func (r *recorder) setCrowdWindow(start, end int64) {
	r.mu.Lock()
	r.c0, r.c1 = start, end
	r.mu.Unlock()
}

// frame records one received payload.
func (r *recorder) frame(p []byte) {
	if len(p) < benchHeader {
		return
	}
	now := time.Now().UnixNano()
	if r.first.Load() == 0 {
		r.first.CompareAndSwap(0, now)
	}
	sent := int64(binary.BigEndian.Uint64(p))
	v := binary.BigEndian.Uint64(p[8:])
	track, idx := int(v>>trackShift), v&idxMask
	if track >= maxTracks {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c0 != 0 && sent >= r.c0 && sent < r.c1 {
		r.crowdLat = append(r.crowdLat, time.Duration(now-sent))
	}
	if r.start == 0 || sent < r.start || sent >= r.end {
		return
	}
	t := &r.tracks[track]
	t.latencies = append(t.latencies, time.Duration(now-sent))
	t.bytes += int64(len(p))
	if t.frames == 0 || idx < t.minIdx {
		t.minIdx = idx
	}
	if idx > t.maxIdx {
		t.maxIdx = idx
	}
	t.frames++
}

// clientResult is what the clients process reports.
type clientResult struct {
	Subscribers    int           `json:"subscribers"`
	Connected      int           `json:"connected"`
	KeptUp         int           `json:"kept_up"`
	Offered        int64         `json:"offered_frames"`
	FramesReceived int64         `json:"frames_received"`
	DeliveredMBps  float64       `json:"delivered_mbps"`
	FramesPerSec   float64       `json:"frames_per_sec"`
	LatencyP50     float64       `json:"latency_p50_ms"`
	LatencyP99     float64       `json:"latency_p99_ms"`
	LatencyMax     float64       `json:"latency_max_ms"`
	MinReceived    float64       `json:"min_received_ratio"`
	GroupsDropped  int64         `json:"groups_dropped"`
	MaxDropped     int64         `json:"max_groups_dropped_per_subscriber"`
	Tracks         []trackResult `json:"tracks"`
	Crowd          *crowdResult  `json:"crowd,omitempty"`
	IdleConnected  int           `json:"idle_connected,omitempty"`
}

// trackResult is one track's figures over all subscribers.
type trackResult struct {
	Name         string  `json:"name"`
	KeptUp       int     `json:"kept_up"`
	Receiving    int     `json:"receiving"` // subscribers that received any of its frames in the window
	Offered      int64   `json:"offered_frames"`
	FramesPerSec float64 `json:"frames_per_sec"`
	LatencyP50   float64 `json:"latency_p50_ms"`
	LatencyP99   float64 `json:"latency_p99_ms"`
	LatencyMax   float64 `json:"latency_max_ms"`
}

// crowdResult is the flash crowd's report: the crowd's time from dial to
// its first frame, and the existing subscribers' latency before and during
// its arrival.
type crowdResult struct {
	N         int `json:"n"`
	Connected int `json:"connected"`    // dialed (and subscribed, on the relay)
	Received  int `json:"first_frames"` // got a frame before --crowd-timeout
	// Dial to connected (handshake, and subscription on the relay).
	ConnectP50 float64 `json:"connect_p50_ms"`
	ConnectP99 float64 `json:"connect_p99_ms"`
	// Dial to the first frame (the baseline: its first bytes).
	FirstP50 float64 `json:"first_frame_p50_ms"`
	FirstP99 float64 `json:"first_frame_p99_ms"`
	FirstMax float64 `json:"first_frame_max_ms"`
	// From the crowd's dial until its last first frame (or the timeout).
	ArrivalMs float64 `json:"arrival_ms"`
	// The existing subscribers: over the measurement window before the
	// crowd, and over the frames sent during its arrival (at least 1 s).
	BeforeP50  float64 `json:"subscribers_p50_before_ms"`
	BeforeP99  float64 `json:"subscribers_p99_before_ms"`
	DuringP50  float64 `json:"subscribers_p50_during_ms"`
	DuringP99  float64 `json:"subscribers_p99_during_ms"`
	DuringMax  float64 `json:"subscribers_max_during_ms"`
	ServerCPU  float64 `json:"server_cpu_cores_during"`   // filled by the parent
	ServerRSS  float64 `json:"server_rss_mb_after"`       // filled by the parent
	TimedOut   int     `json:"timed_out"`                 // connected, no frame before --crowd-timeout
	Closed     int     `json:"closed_before_first_frame"` // connected, then closed by the server (quic-go refuses connections its full accept queue cannot take)
	DialErrors int     `json:"dial_errors"`
}

func ms(x time.Duration) float64 { return float64(x) / 1e6 }

// percentiles sorts v and returns its p50, p99 and max in ms.
func percentiles(v []time.Duration) (p50, p99, mx float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	return ms(v[len(v)/2]), ms(v[len(v)*99/100]), ms(v[len(v)-1])
}

// summarize merges the subscribers' records over a window of d; shapes
// names the tracks.
func summarize(recs []*recorder, shapes []trackShape, d time.Duration) clientResult {
	var res clientResult
	res.Subscribers = len(recs)
	nt := len(shapes)
	offered := make([]int64, nt)
	for t := range nt {
		var minIdx, maxIdx uint64
		first := true
		for _, r := range recs {
			r.mu.Lock()
			tr := &r.tracks[t]
			if tr.frames > 0 {
				if first || tr.minIdx < minIdx {
					minIdx = tr.minIdx
				}
				if first || tr.maxIdx > maxIdx {
					maxIdx = tr.maxIdx
				}
				first = false
			}
			r.mu.Unlock()
		}
		if !first {
			offered[t] = int64(maxIdx - minIdx + 1)
			res.Offered += offered[t]
		}
	}
	res.MinReceived = 1
	var all []time.Duration
	perTrack := make([][]time.Duration, nt)
	res.Tracks = make([]trackResult, nt)
	for _, r := range recs {
		r.mu.Lock()
		kept := true
		minRatio := 1.0
		for t := range nt {
			tr := &r.tracks[t]
			all = append(all, tr.latencies...)
			perTrack[t] = append(perTrack[t], tr.latencies...)
			res.FramesReceived += tr.frames
			res.DeliveredMBps += float64(tr.bytes) / d.Seconds() / 1e6
			res.Tracks[t].FramesPerSec += float64(tr.frames) / d.Seconds()
			ratio := 0.0
			if offered[t] > 0 {
				ratio = float64(tr.frames) / float64(offered[t])
			}
			if tr.frames > 0 {
				res.Tracks[t].Receiving++
			}
			if ratio >= 0.99 {
				res.Tracks[t].KeptUp++
			} else {
				kept = false
			}
			minRatio = min(minRatio, ratio)
		}
		if kept {
			res.KeptUp++
		}
		res.MinReceived = min(res.MinReceived, minRatio)
		res.GroupsDropped += r.dropped
		res.MaxDropped = max(res.MaxDropped, r.dropped)
		r.mu.Unlock()
	}
	for t := range nt {
		tr := &res.Tracks[t]
		tr.Name, tr.Offered = shapes[t].name, offered[t]
		tr.LatencyP50, tr.LatencyP99, tr.LatencyMax = percentiles(perTrack[t])
	}
	res.FramesPerSec = float64(res.FramesReceived) / d.Seconds()
	res.LatencyP50, res.LatencyP99, res.LatencyMax = percentiles(all)
	return res
}

// crowdLatency merges the existing subscribers' latencies of the crowd's
// window.
func crowdLatency(recs []*recorder) (p50, p99, mx float64) {
	var all []time.Duration
	for _, r := range recs {
		r.mu.Lock()
		all = append(all, r.crowdLat...)
		r.mu.Unlock()
	}
	return percentiles(all)
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
