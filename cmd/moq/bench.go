package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchResult is one run's report; the last line of `moq bench`'s stdout
// is one of these as JSON.
type benchResult struct {
	Mode         string  `json:"mode"`
	Transport    string  `json:"transport"`
	Subscribers  int     `json:"subscribers"`
	KeptUp       int     `json:"kept_up"`
	DeliveredMBs float64 `json:"delivered_mbps"`
	FramesPerSec float64 `json:"frames_per_sec"`
	LatencyP50   float64 `json:"latency_p50_ms"`
	LatencyP99   float64 `json:"latency_p99_ms"`
	LatencyMax   float64 `json:"latency_max_ms"`
	ServerCPU    float64 `json:"server_cpu_cores"`
	ServerRSS    float64 `json:"server_rss_mb"`
	ClientCPU    float64 `json:"clients_cpu_cores"`
	// GroupsDropped counts the groups the relay reset for subscribers
	// that fell too far behind (all subscribers; and the most for one).
	GroupsDropped int64   `json:"groups_dropped"`
	MaxDropped    int64   `json:"max_groups_dropped_per_subscriber"`
	OtherCPU      float64 `json:"other_cpu_cores"`
	Disturbed     bool    `json:"disturbed"`
	Pinned        bool    `json:"pinned"`
	Runs          int     `json:"runs"`
	Discarded     int     `json:"discarded_runs"`
	// MinMax lists each counted run's server CPU (cores) and p99 (ms).
	MinMax [][2]float64 `json:"runs_cpu_p99,omitempty"`
	// Baseline is the raw quic-go run of --compare; the ratios compare
	// the relay with it.
	Baseline *benchResult `json:"baseline,omitempty"`
	CPURatio float64      `json:"cpu_ratio,omitempty"`
	P99Ratio float64      `json:"p99_ratio,omitempty"`

	// Profile is the traffic's shape (data or video); Tracks the figures
	// of each of its tracks (latency over all of them is above).
	Profile   string        `json:"profile"`
	Connected int           `json:"connected"`
	Tracks    []trackResult `json:"tracks"`
	// Crowd is the report of --crowd; Idle of --idle; Capacity of
	// --capacity (the other fields are then those of the largest N that
	// passed, or of the last probe if none did).
	Crowd         *crowdResult    `json:"crowd,omitempty"`
	Idle          *idleResult     `json:"idle,omitempty"`
	Capacity      *capacityResult `json:"capacity,omitempty"`
	CapacityRatio float64         `json:"capacity_ratio,omitempty"`
}

// idleResult is the report of --idle: the server's RSS before and after K
// idle sessions connected (nothing subscribed), and over the hold.
type idleResult struct {
	Sessions     int       `json:"sessions"`
	Connected    int       `json:"connected"`
	RSSBeforeMB  float64   `json:"rss_before_mb"`
	RSSAfterMB   float64   `json:"rss_after_mb"`
	PerSessionKB float64   `json:"rss_per_session_kb"`
	RSSEndMB     float64   `json:"rss_end_mb"`
	RSSMaxMB     float64   `json:"rss_max_mb"`
	GrowthMB     float64   `json:"rss_growth_mb"` // end of the hold - after connecting
	HoldS        float64   `json:"hold_s"`
	SamplesMB    []float64 `json:"rss_samples_mb"`
}

type benchConfig struct {
	subscribers int
	tr          traffic
	warmup      time.Duration
	duration    time.Duration
	transport   string
	pin         bool
	url         string
	relayPID    int
	runs        int
	quietWait   time.Duration
	cpuProfile  string
	memProfile  string
	maxLatency  time.Duration
	otherLoad   float64

	crowd        int
	crowdTimeout time.Duration
	idle         int
	idleHold     time.Duration
}

func runBench(ctx context.Context, args []string) error {
	fs := newFlagSet("bench", "bench [--subscribers N] [--profile data|video] [--bitrate 1MB] [--frame-size 1000] [--group-frames 30] [--warmup 3s] [--duration 5s] [--transport quic|webtransport|websocket] [--pin] [--baseline|--compare] [--capacity [--capacity-p99 50ms] [--capacity-time 10m]] [--crowd N] [--idle K [--idle-hold 1m]] [--url URL [--relay-pid PID]] [--runs K]")
	var cfg benchConfig
	bitrate := fs.String("bitrate", "1MB", "data profile: bytes per second of the track, per subscriber (e.g. 1MB, 250KB)")
	fs.IntVar(&cfg.subscribers, "subscribers", 100, "subscribers, each on its own connection")
	fs.StringVar(&cfg.tr.profile, "profile", "data", "traffic: data (one track of --frame-size frames at --bitrate, --group-frames per group) or video (30 fps 2.5 Mbit/s video in 2 s groups, keyframe 10x a delta frame, and 128 kbit/s audio at 50 frames/s, one group per frame)")
	fs.IntVar(&cfg.tr.frameSize, "frame-size", 1000, "data profile: bytes per frame")
	fs.IntVar(&cfg.tr.groupFrames, "group-frames", 30, "data profile: frames per group (one QUIC stream each)")
	fs.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "time before measuring")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measurement time")
	fs.StringVar(&cfg.transport, "transport", "quic", "subscribers' transport: quic (native moq-lite), webtransport or websocket (QMux)")
	fs.BoolVar(&cfg.pin, "pin", false, "pin the server to CPU 0 and the clients to CPU 1 (taskset)")
	baseline := fs.Bool("baseline", false, "measure raw quic-go instead of the relay: a plain QUIC forwarder receives the same traffic from the publisher and sends it on (one uni stream per group)")
	compare := fs.Bool("compare", false, "measure the baseline, then the relay, and report the relay's ratios")
	fs.StringVar(&cfg.url, "url", "", "benchmark a running relay at `host:port` (moqt://, https:// prefixes accepted) instead of starting one")
	fs.IntVar(&cfg.relayPID, "relay-pid", 0, "`PID` of the relay given by --url, to measure its CPU and RSS")
	fs.IntVar(&cfg.runs, "runs", 1, "runs per mode (interleaved with --compare); medians are reported, disturbed runs are discarded")
	fs.DurationVar(&cfg.quietWait, "quiet-wait", 30*time.Second, "how long to wait for other CPU load to stop before each run")
	fs.Float64Var(&cfg.otherLoad, "other-load", 0.15, "discard (and repeat) a run during which other processes used more than this many `cores`")
	fs.DurationVar(&cfg.maxLatency, "max-latency", 0, "subscribers ask the relay to drop groups they are further behind than this (0: the relay's default, 2s)")
	fs.StringVar(&cfg.cpuProfile, "server-cpuprofile", "", "write a CPU profile of the server process to `file` (mode name appended)")
	fs.StringVar(&cfg.memProfile, "server-memprofile", "", "with --idle: write a heap profile of the server process to `file` (mode name appended; its goroutines, by stack, to that name + .goroutines) once the idle sessions are connected")
	capacity := fs.Bool("capacity", false, "search the largest N at which every subscriber keeps up and p99 <= --capacity-p99: doubling from --capacity-start, then bisection (with --compare: of both modes, probes interleaved)")
	var cc capConfig
	fs.DurationVar(&cc.p99, "capacity-p99", 50*time.Millisecond, "the p99 latency bound of --capacity")
	fs.DurationVar(&cc.budget, "capacity-time", 10*time.Minute, "the time bound of --capacity, all modes together (no probe starts that would exceed it)")
	fs.IntVar(&cc.start, "capacity-start", 10, "the first N of --capacity")
	fs.IntVar(&cc.max, "capacity-max", 2000, "the largest N --capacity probes")
	fs.Float64Var(&cc.resPct, "capacity-resolution", 5, "--capacity stops when the last pass and the first fail are within this `percent` of N ...")
	fs.IntVar(&cc.resAbs, "capacity-resolution-subs", 2, "... or within this many subscribers, whichever is more")
	fs.IntVar(&cfg.crowd, "crowd", 0, "after the measurement, `N` more subscribers dial at once: their dial-to-first-frame time, and the --subscribers' latency during their arrival against before")
	fs.DurationVar(&cfg.crowdTimeout, "crowd-timeout", 30*time.Second, "how long the crowd may take to get its first frames")
	fs.IntVar(&cfg.idle, "idle", 0, "before the subscribers, connect `K` idle sessions (nothing subscribed) and report the server's RSS per session")
	fs.DurationVar(&cfg.idleHold, "idle-hold", time.Minute, "how long --idle holds the sessions, sampling the server's RSS for growth")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs); err != nil {
		return err
	}
	var err error
	if cfg.tr.bitrate, err = parseBytes(*bitrate); err != nil {
		return fmt.Errorf("--bitrate: %w", err)
	}
	if cfg.tr.profile != "data" && cfg.tr.profile != "video" {
		return fmt.Errorf("--profile %q: want data or video", cfg.tr.profile)
	}
	if cfg.tr.frameSize < benchHeader {
		return fmt.Errorf("--frame-size must be at least %d", benchHeader)
	}
	if cfg.subscribers < 1 || cfg.tr.groupFrames < 1 || cfg.runs < 1 {
		return errors.New("--subscribers, --group-frames and --runs must be positive")
	}
	if cfg.crowd < 0 || cfg.idle < 0 {
		return errors.New("--crowd and --idle must not be negative")
	}
	if cfg.transport != "quic" && cfg.transport != "webtransport" && cfg.transport != "websocket" {
		return fmt.Errorf("--transport %q: want quic, webtransport or websocket", cfg.transport)
	}
	if *capacity && (cfg.crowd > 0 || cfg.idle > 0) {
		return errors.New("--capacity measures the fan-out alone: run --crowd and --idle separately")
	}
	if *baseline && *compare {
		return errors.New("--baseline and --compare exclude each other")
	}
	subs := strconv.Itoa(cfg.subscribers)
	if *capacity {
		subs = "N"
	}
	fmt.Fprintf(os.Stderr, "moq bench: %s subscribers, %s (%.0f B/s per subscriber), warm-up %v, %v measured\n",
		subs, cfg.tr.describe(), cfg.tr.bytesPerSec(), cfg.warmup, cfg.duration)
	if cfg.crowd > 0 {
		fmt.Fprintf(os.Stderr, "moq bench: then a crowd of %d subscribers dialing at once\n", cfg.crowd)
	}
	if cfg.idle > 0 {
		fmt.Fprintf(os.Stderr, "moq bench: first %d idle sessions held %v\n", cfg.idle, cfg.idleHold)
	}

	modes := []string{"relay"}
	switch {
	case *compare:
		modes = []string{"baseline", "relay"}
	case *baseline:
		modes = []string{"baseline"}
	}
	var rs []*benchResult
	if *capacity {
		probe := func(mode string, n int) (*benchResult, error) {
			c := cfg
			c.subscribers = n
			r, err := benchModes(ctx, c, mode)
			if err != nil {
				return nil, err
			}
			return r[0], nil
		}
		fmt.Fprintf(os.Stderr, "moq bench: capacity search of %s: p99 <= %v, N from %d doubling (at most %d), then bisection to %.0f%% or %d subscribers, within %v\n",
			strings.Join(modes, " and "), cc.p99, cc.start, cc.max, cc.resPct, cc.resAbs, cc.budget)
		reports, best, err := runCapacity(ctx, modes, cc, probe, time.Now, os.Stderr)
		if err != nil {
			return err
		}
		for i := range modes {
			if best[i] == nil { // no probe gave a result
				best[i] = &benchResult{Mode: modes[i], Transport: cfg.transport, Profile: cfg.tr.profile}
			}
			best[i].Capacity = reports[i]
		}
		rs = best
	} else {
		if rs, err = benchModes(ctx, cfg, modes...); err != nil {
			return err
		}
	}
	res := rs[len(rs)-1]
	if len(rs) == 2 {
		base := rs[0]
		res.Baseline = base
		// Under --capacity the two results may be at different N's.
		if base.Subscribers == res.Subscribers {
			if base.ServerCPU > 0 {
				res.CPURatio = res.ServerCPU / base.ServerCPU
			}
			if base.LatencyP99 > 0 {
				res.P99Ratio = res.LatencyP99 / base.LatencyP99
			}
		}
		if base.Capacity != nil && res.Capacity != nil && base.Capacity.Capacity > 0 {
			res.CapacityRatio = float64(res.Capacity.Capacity) / float64(base.Capacity.Capacity)
		}
	}
	printTable(os.Stdout, rs...)
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// benchModes runs each mode cfg.runs times, interleaved (baseline, relay,
// baseline, ...) so that slow drifts of the machine affect both alike, and
// returns per mode the median of every metric over the runs not disturbed
// by other load. Disturbed runs are discarded and retried (3 retries in all).
func benchModes(ctx context.Context, cfg benchConfig, modes ...string) ([]*benchResult, error) {
	good := make([][]*benchResult, len(modes))
	discarded := make([]int, len(modes))
	retries := 3
	for run := 1; ; run++ {
		done := true
		for i, mode := range modes {
			if len(good[i]) >= cfg.runs {
				continue
			}
			done = false
			waitQuiet(cfg.quietWait)
			r, err := benchOnce(ctx, cfg, mode)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "moq bench: %s run %d: kept up %d/%d, p99 %.2f ms, server %.3f cores, clients %.3f cores, dropped %d groups, other load %.2f cores%s\n",
				mode, run, r.KeptUp, r.Subscribers, r.LatencyP99, r.ServerCPU, r.ClientCPU, r.GroupsDropped, r.OtherCPU, map[bool]string{true: " (disturbed, discarded)"}[r.Disturbed])
			if r.Disturbed {
				discarded[i]++
				if retries--; retries < 0 {
					return nil, errDisturbed
				}
				continue
			}
			good[i] = append(good[i], r)
		}
		if done {
			break
		}
	}
	out := make([]*benchResult, len(modes))
	for i := range modes {
		out[i] = medianResult(good[i])
		out[i].Discarded = discarded[i]
	}
	return out, nil
}

// medianResult takes the median of each metric over rs.
func medianResult(rs []*benchResult) *benchResult {
	med := func(f func(*benchResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m := *rs[0]
	m.Runs = len(rs)
	m.KeptUp = int(med(func(r *benchResult) float64 { return float64(r.KeptUp) }))
	m.DeliveredMBs = med(func(r *benchResult) float64 { return r.DeliveredMBs })
	m.FramesPerSec = med(func(r *benchResult) float64 { return r.FramesPerSec })
	m.LatencyP50 = med(func(r *benchResult) float64 { return r.LatencyP50 })
	m.LatencyP99 = med(func(r *benchResult) float64 { return r.LatencyP99 })
	m.LatencyMax = med(func(r *benchResult) float64 { return r.LatencyMax })
	m.ServerCPU = med(func(r *benchResult) float64 { return r.ServerCPU })
	m.ServerRSS = med(func(r *benchResult) float64 { return r.ServerRSS })
	m.ClientCPU = med(func(r *benchResult) float64 { return r.ClientCPU })
	m.OtherCPU = med(func(r *benchResult) float64 { return r.OtherCPU })
	m.GroupsDropped = int64(med(func(r *benchResult) float64 { return float64(r.GroupsDropped) }))
	m.MaxDropped = int64(med(func(r *benchResult) float64 { return float64(r.MaxDropped) }))
	m.Connected = int(med(func(r *benchResult) float64 { return float64(r.Connected) }))
	m.Tracks = slices.Clone(rs[0].Tracks)
	for t := range m.Tracks {
		tr := func(r *benchResult) *trackResult { return &r.Tracks[t] }
		m.Tracks[t].KeptUp = int(med(func(r *benchResult) float64 { return float64(tr(r).KeptUp) }))
		m.Tracks[t].Receiving = int(med(func(r *benchResult) float64 { return float64(tr(r).Receiving) }))
		m.Tracks[t].Offered = int64(med(func(r *benchResult) float64 { return float64(tr(r).Offered) }))
		m.Tracks[t].FramesPerSec = med(func(r *benchResult) float64 { return tr(r).FramesPerSec })
		m.Tracks[t].LatencyP50 = med(func(r *benchResult) float64 { return tr(r).LatencyP50 })
		m.Tracks[t].LatencyP99 = med(func(r *benchResult) float64 { return tr(r).LatencyP99 })
		m.Tracks[t].LatencyMax = med(func(r *benchResult) float64 { return tr(r).LatencyMax })
	}
	// The crowd's and the idle sessions' reports are those of the run with
	// the median figure.
	if m.Crowd != nil {
		m.Crowd = medianRun(rs, func(r *benchResult) float64 { return r.Crowd.FirstP99 }).Crowd
	}
	if m.Idle != nil {
		m.Idle = medianRun(rs, func(r *benchResult) float64 { return r.Idle.PerSessionKB }).Idle
	}
	for _, r := range rs {
		m.MinMax = append(m.MinMax, [2]float64{r.ServerCPU, r.LatencyP99})
	}
	return &m
}

// medianRun returns the run with the median of f.
func medianRun(rs []*benchResult, f func(*benchResult) float64) *benchResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b *benchResult) int { return cmp.Compare(f(a), f(b)) })
	return s[len(s)/2]
}

// benchOnce starts the server (unless --url) and the clients, measures the
// server's CPU over the window, and collects the clients' report.
func benchOnce(ctx context.Context, cfg benchConfig, mode string) (*benchResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	command := func(cpu string, args ...string) *exec.Cmd {
		if cfg.pin {
			return exec.CommandContext(ctx, "taskset", append([]string{"-c", cpu, self}, args...)...)
		}
		return exec.CommandContext(ctx, self, args...)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(cfg.url, "moqt://"), "https://"), "/")
	serverPID := cfg.relayPID
	if cfg.url == "" || mode == "baseline" {
		sargs := []string{"bench-server", "--mode", mode}
		if cfg.cpuProfile != "" {
			sargs = append(sargs, "--cpuprofile", cfg.cpuProfile+"."+mode)
		}
		if cfg.memProfile != "" {
			sargs = append(sargs, "--memprofile", cfg.memProfile+"."+mode)
		}
		srv := command("0", sargs...)
		srv.Stderr = os.Stderr
		out, _ := srv.StdoutPipe()
		if err := srv.Start(); err != nil {
			return nil, err
		}
		defer func() {
			srv.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() {
				srv.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				srv.Process.Kill()
				<-done
			}
		}()
		line, err := bufio.NewReader(out).ReadString('\n')
		if !strings.HasPrefix(line, "ADDR ") {
			return nil, fmt.Errorf("bench server did not start: %q %v", line, err)
		}
		addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
		serverPID = srv.Process.Pid
	}
	cargs := append([]string{"bench-clients", "--mode", mode, "--addr", addr, "--transport", cfg.transport,
		"--subscribers", strconv.Itoa(cfg.subscribers), "--warmup", cfg.warmup.String(), "--duration", cfg.duration.String(),
		"--max-latency", cfg.maxLatency.String(),
		"--crowd", strconv.Itoa(cfg.crowd), "--crowd-timeout", cfg.crowdTimeout.String(),
		"--idle", strconv.Itoa(cfg.idle), "--idle-hold", cfg.idleHold.String()}, cfg.tr.args()...)
	if cfg.cpuProfile != "" {
		cargs = append(cargs, "--cpuprofile", cfg.cpuProfile+".clients."+mode)
	}
	cl := command("1", cargs...)
	var stdout strings.Builder
	cl.Stdout = &stdout
	errPipe, _ := cl.StderrPipe()
	// A line on stdin tells the clients that what they announced on
	// stderr (IDLE_BEFORE, IDLE_END) was measured.
	ack, _ := cl.StdinPipe()
	defer ack.Close()
	if err := cl.Start(); err != nil {
		return nil, err
	}
	var (
		cpu0, cpu1     float64
		sys0, sys1     cpuTimes
		self0, self1   float64
		start, end     time.Time
		clientPID      = cl.Process.Pid
		cli0, cli1     float64
		rssMB          float64
		sawStart, sawE bool
		crowdCPU0      float64
		crowdCPU       float64
		crowdT0        time.Time
		crowdSecs      float64
		crowdRSS       float64
		idle           *idleResult
	)
	if cfg.idle > 0 {
		idle = &idleResult{Sessions: cfg.idle}
	}
	var idleT0 time.Time
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		switch line := sc.Text(); line {
		case "IDLE_BEFORE":
			idle.RSSBeforeMB = procRSS(serverPID)
			fmt.Fprintln(ack, "ok")
		case "IDLE_AFTER":
			idleT0 = time.Now()
			idle.RSSAfterMB = procRSS(serverPID)
			idle.SamplesMB = append(idle.SamplesMB, idle.RSSAfterMB)
			if cfg.memProfile != "" && serverPID > 0 {
				// The server writes its heap profile on SIGUSR1.
				syscall.Kill(serverPID, syscall.SIGUSR1)
			}
		case "IDLE_SAMPLE", "IDLE_END":
			v := procRSS(serverPID)
			idle.SamplesMB = append(idle.SamplesMB, v)
			if line == "IDLE_END" {
				idle.RSSEndMB = v
				idle.HoldS = time.Since(idleT0).Seconds()
				fmt.Fprintln(ack, "ok")
			}
		case "CROWD_START":
			crowdT0 = time.Now()
			crowdCPU0 = procCPU(serverPID)
		case "CROWD_END":
			crowdSecs = time.Since(crowdT0).Seconds()
			crowdCPU = procCPU(serverPID) - crowdCPU0
			crowdRSS = procRSS(serverPID)
		case "MEASURE_START":
			start, sawStart = time.Now(), true
			cpu0, cli0, self0 = procCPU(serverPID), procCPU(clientPID), procCPU(os.Getpid())
			sys0 = systemCPU()
		case "MEASURE_END":
			end, sawE = time.Now(), true
			cpu1, cli1, self1 = procCPU(serverPID), procCPU(clientPID), procCPU(os.Getpid())
			sys1 = systemCPU()
			rssMB = procRSS(serverPID)
		case "WARMUP":
		default:
			fmt.Fprintln(os.Stderr, line)
		}
	}
	if err := cl.Wait(); err != nil {
		return nil, fmt.Errorf("bench clients: %v", err)
	}
	if !sawStart || !sawE {
		return nil, errors.New("bench clients did not measure")
	}
	var cr clientResult
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &cr); err != nil {
		return nil, fmt.Errorf("bench clients report: %v", err)
	}
	secs := end.Sub(start).Seconds()
	r := &benchResult{
		Mode:          mode,
		Transport:     cfg.transport,
		Subscribers:   cfg.subscribers,
		KeptUp:        cr.KeptUp,
		DeliveredMBs:  cr.DeliveredMBps,
		FramesPerSec:  cr.FramesPerSec,
		LatencyP50:    cr.LatencyP50,
		LatencyP99:    cr.LatencyP99,
		LatencyMax:    cr.LatencyMax,
		Pinned:        cfg.pin,
		GroupsDropped: cr.GroupsDropped,
		MaxDropped:    cr.MaxDropped,
		Profile:       cfg.tr.profile,
		Connected:     cr.Connected,
		Tracks:        cr.Tracks,
		Crowd:         cr.Crowd,
	}
	if r.Crowd != nil && serverPID > 0 && crowdSecs > 0 {
		r.Crowd.ServerCPU = crowdCPU / crowdSecs
		r.Crowd.ServerRSS = crowdRSS
	}
	if idle != nil && serverPID > 0 {
		idle.Connected = cr.IdleConnected
		if idle.Connected > 0 {
			idle.PerSessionKB = (idle.RSSAfterMB - idle.RSSBeforeMB) * 1024 / float64(idle.Connected)
		}
		for _, v := range idle.SamplesMB {
			idle.RSSMaxMB = max(idle.RSSMaxMB, v)
		}
		idle.GrowthMB = idle.RSSEndMB - idle.RSSAfterMB
		r.Idle = idle
	}
	if mode == "baseline" {
		r.Transport = "quic"
	}
	r.ClientCPU = (cli1 - cli0) / secs
	if serverPID > 0 {
		r.ServerCPU = (cpu1 - cpu0) / secs
		r.ServerRSS = rssMB
	}
	busy := sys1.busy - sys0.busy
	ours := (cpu1 - cpu0) + (cli1 - cli0) + (self1 - self0)
	if serverPID == 0 {
		ours = (cli1 - cli0) + (self1 - self0)
	}
	r.OtherCPU = max(0, (busy-ours)/secs)
	r.Disturbed = r.OtherCPU > cfg.otherLoad
	return r, nil
}

func printTable(w io.Writer, rs ...*benchResult) {
	fmt.Fprintf(w, "%-9s %-12s %6s %8s %10s %10s %8s %8s %8s %9s %8s %8s\n",
		"mode", "transport", "subs", "kept_up", "MB/s", "frames/s", "p50 ms", "p99 ms", "max ms", "srv cores", "srv MB", "dropped")
	for _, r := range rs {
		fmt.Fprintf(w, "%-9s %-12s %6d %8d %10.2f %10.0f %8.2f %8.2f %8.2f %9.3f %8.1f %8d\n",
			r.Mode, r.Transport, r.Subscribers, r.KeptUp, r.DeliveredMBs, r.FramesPerSec, r.LatencyP50, r.LatencyP99, r.LatencyMax, r.ServerCPU, r.ServerRSS, r.GroupsDropped)
	}
	if len(rs) == 2 && rs[0].ServerCPU > 0 && rs[0].LatencyP99 > 0 && rs[0].Subscribers == rs[1].Subscribers {
		fmt.Fprintf(w, "relay/baseline: CPU %.2fx, p99 latency %.2fx\n", rs[1].ServerCPU/rs[0].ServerCPU, rs[1].LatencyP99/rs[0].LatencyP99)
	}
	if len(rs) > 0 && len(rs[0].Tracks) > 1 {
		fmt.Fprintf(w, "\n%-9s %-8s %8s %10s %8s %8s %8s\n", "mode", "track", "kept_up", "frames/s", "p50 ms", "p99 ms", "max ms")
		for _, r := range rs {
			for _, t := range r.Tracks {
				fmt.Fprintf(w, "%-9s %-8s %8d %10.0f %8.2f %8.2f %8.2f\n", r.Mode, t.Name, t.KeptUp, t.FramesPerSec, t.LatencyP50, t.LatencyP99, t.LatencyMax)
			}
		}
	}
	if len(rs) > 0 && rs[0].Crowd != nil {
		fmt.Fprintf(w, "\ncrowd: dial to first frame (the baseline: its first bytes); the --subscribers' latency before and during the arrival\n")
		fmt.Fprintf(w, "%-9s %6s %6s %6s %6s %9s %9s %9s %9s %9s %8s %8s %8s %8s %9s\n",
			"mode", "crowd", "conn", "first", "closed", "conn p99", "first p50", "first p99", "first max", "arrival", "p50 bef", "p99 bef", "p50 dur", "p99 dur", "srv cores")
		for _, r := range rs {
			c := r.Crowd
			fmt.Fprintf(w, "%-9s %6d %6d %6d %6d %9.1f %9.1f %9.1f %9.1f %9.0f %8.2f %8.2f %8.2f %8.2f %9.3f\n",
				r.Mode, c.N, c.Connected, c.Received, c.Closed, c.ConnectP99, c.FirstP50, c.FirstP99, c.FirstMax, c.ArrivalMs, c.BeforeP50, c.BeforeP99, c.DuringP50, c.DuringP99, c.ServerCPU)
		}
	}
	if len(rs) > 0 && rs[0].Idle != nil {
		fmt.Fprintf(w, "\nidle sessions: server RSS before, after connecting, per session, and its growth over the hold\n")
		fmt.Fprintf(w, "%-9s %8s %9s %9s %9s %9s %9s %8s\n", "mode", "sessions", "before MB", "after MB", "KB/sess", "end MB", "growth MB", "hold s")
		for _, r := range rs {
			i := r.Idle
			fmt.Fprintf(w, "%-9s %8d %9.1f %9.1f %9.1f %9.1f %9.2f %8.0f\n", r.Mode, i.Connected, i.RSSBeforeMB, i.RSSAfterMB, i.PerSessionKB, i.RSSEndMB, i.GrowthMB, i.HoldS)
		}
	}
	if len(rs) > 0 && rs[0].Capacity != nil {
		fmt.Fprintf(w, "\ncapacity: largest N with every subscriber kept up and p99 <= %.0f ms\n", rs[0].Capacity.P99BoundMs)
		for _, r := range rs {
			c := r.Capacity
			state := "complete"
			if !c.Complete {
				state = "INCOMPLETE"
			}
			ff := "none"
			if c.FirstFail > 0 {
				ff = strconv.Itoa(c.FirstFail)
			}
			fmt.Fprintf(w, "%-9s capacity %d (first fail %s), %d probes, %s: %s\n", r.Mode, c.Capacity, ff, len(c.Probes), state, c.Reason)
			for _, p := range c.Probes {
				fmt.Fprintf(w, "%-9s   N=%-5d %-4s %s\n", "", p.N, map[bool]string{true: "pass", false: "FAIL"}[p.Pass], p.Why)
			}
		}
		if len(rs) == 2 && rs[0].Capacity.Capacity > 0 {
			fmt.Fprintf(w, "relay/baseline capacity: %.2fx\n", float64(rs[1].Capacity.Capacity)/float64(rs[0].Capacity.Capacity))
		}
	}
}

// procCPU returns a process's user+system CPU seconds, from /proc.
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// procRSS returns a process's resident set in MB.
func procRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

type cpuTimes struct{ busy float64 }

// systemCPU returns the CPU seconds all processes used, from /proc/stat.
func systemCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var busy float64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		busy += x
	}
	return cpuTimes{busy: busy / clockTicks}
}

// waitQuiet waits until the machine is idle (under 0.15 cores busy over a
// second), for at most max.
func waitQuiet(max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		a := systemCPU()
		time.Sleep(time.Second)
		b := systemCPU()
		load := b.busy - a.busy
		if load < 0.15 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "moq bench: the machine is still busy (%.2f cores); measuring anyway\n", load)
			return
		}
		fmt.Fprintf(os.Stderr, "moq bench: waiting for other load (%.2f cores) to stop\n", load)
	}
}
