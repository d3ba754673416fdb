package main

import (
	"bufio"
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
	maxLatency  time.Duration
}

func runBench(ctx context.Context, args []string) error {
	fs := newFlagSet("bench", "bench [--subscribers N] [--bitrate 1MB] [--frame-size 1000] [--group-frames 30] [--warmup 3s] [--duration 5s] [--transport quic|webtransport|websocket] [--pin] [--baseline|--compare] [--url URL [--relay-pid PID]] [--runs K]")
	var cfg benchConfig
	bitrate := fs.String("bitrate", "1MB", "bytes per second of the track, per subscriber (e.g. 1MB, 250KB)")
	fs.IntVar(&cfg.subscribers, "subscribers", 100, "subscribers, each on its own connection")
	fs.IntVar(&cfg.tr.frameSize, "frame-size", 1000, "bytes per frame")
	fs.IntVar(&cfg.tr.groupFrames, "group-frames", 30, "frames per group (one QUIC stream each)")
	fs.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "time before measuring")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measurement time")
	fs.StringVar(&cfg.transport, "transport", "quic", "subscribers' transport: quic (native moq-lite), webtransport or websocket (QMux)")
	fs.BoolVar(&cfg.pin, "pin", false, "pin the server to CPU 0 and the clients to CPU 1 (taskset)")
	baseline := fs.Bool("baseline", false, "measure raw quic-go instead of the relay: a plain QUIC server sends the same traffic (one uni stream per group)")
	compare := fs.Bool("compare", false, "measure the baseline, then the relay, and report the relay's ratios")
	fs.StringVar(&cfg.url, "url", "", "benchmark a running relay at `host:port` (moqt://, https:// prefixes accepted) instead of starting one")
	fs.IntVar(&cfg.relayPID, "relay-pid", 0, "`PID` of the relay given by --url, to measure its CPU and RSS")
	fs.IntVar(&cfg.runs, "runs", 1, "runs per mode (interleaved with --compare); medians are reported, disturbed runs are discarded")
	fs.DurationVar(&cfg.quietWait, "quiet-wait", 30*time.Second, "how long to wait for other CPU load to stop before each run")
	fs.DurationVar(&cfg.maxLatency, "max-latency", 0, "subscribers ask the relay to drop groups they are further behind than this (0: the relay's default, 2s)")
	fs.StringVar(&cfg.cpuProfile, "server-cpuprofile", "", "write a CPU profile of the server process to `file` (mode name appended)")
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
	if cfg.tr.frameSize < benchHeader {
		return fmt.Errorf("--frame-size must be at least %d", benchHeader)
	}
	if cfg.subscribers < 1 || cfg.tr.groupFrames < 1 || cfg.runs < 1 {
		return errors.New("--subscribers, --group-frames and --runs must be positive")
	}
	if cfg.transport != "quic" && cfg.transport != "webtransport" && cfg.transport != "websocket" {
		return fmt.Errorf("--transport %q: want quic, webtransport or websocket", cfg.transport)
	}
	fmt.Fprintf(os.Stderr, "moq bench: %d subscribers, %d B/s each, %d-byte frames (%.0f frames/s), %d frames per group, warm-up %v, %v measured\n",
		cfg.subscribers, cfg.tr.bitrate, cfg.tr.frameSize, float64(cfg.tr.bitrate)/float64(cfg.tr.frameSize), cfg.tr.groupFrames, cfg.warmup, cfg.duration)

	var res *benchResult
	switch {
	case *compare:
		both, err := benchModes(ctx, cfg, "baseline", "relay")
		if err != nil {
			return err
		}
		base := both[0]
		res = both[1]
		res.Baseline = base
		if base.ServerCPU > 0 {
			res.CPURatio = res.ServerCPU / base.ServerCPU
		}
		if base.LatencyP99 > 0 {
			res.P99Ratio = res.LatencyP99 / base.LatencyP99
		}
		printTable(os.Stdout, base, res)
	default:
		mode := "relay"
		if *baseline {
			mode = "baseline"
		}
		rs, err := benchModes(ctx, cfg, mode)
		if err != nil {
			return err
		}
		res = rs[0]
		printTable(os.Stdout, res)
	}
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
					return nil, fmt.Errorf("too many runs disturbed by other CPU load; run on a quiet machine")
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
	for _, r := range rs {
		m.MinMax = append(m.MinMax, [2]float64{r.ServerCPU, r.LatencyP99})
	}
	return &m
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
		sargs := append([]string{"bench-server", "--mode", mode}, cfg.tr.args()...)
		if cfg.cpuProfile != "" {
			sargs = append(sargs, "--cpuprofile", cfg.cpuProfile+"."+mode)
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
		"--max-latency", cfg.maxLatency.String()}, cfg.tr.args()...)
	if cfg.cpuProfile != "" {
		cargs = append(cargs, "--cpuprofile", cfg.cpuProfile+".clients."+mode)
	}
	cl := command("1", cargs...)
	var stdout strings.Builder
	cl.Stdout = &stdout
	errPipe, _ := cl.StderrPipe()
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
	)
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		switch line := sc.Text(); line {
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
	r.Disturbed = r.OtherCPU > 0.15
	return r, nil
}

func printTable(w io.Writer, rs ...*benchResult) {
	fmt.Fprintf(w, "%-9s %-12s %6s %8s %10s %10s %8s %8s %8s %9s %8s %8s\n",
		"mode", "transport", "subs", "kept_up", "MB/s", "frames/s", "p50 ms", "p99 ms", "max ms", "srv cores", "srv MB", "dropped")
	for _, r := range rs {
		fmt.Fprintf(w, "%-9s %-12s %6d %8d %10.2f %10.0f %8.2f %8.2f %8.2f %9.3f %8.1f %8d\n",
			r.Mode, r.Transport, r.Subscribers, r.KeptUp, r.DeliveredMBs, r.FramesPerSec, r.LatencyP50, r.LatencyP99, r.LatencyMax, r.ServerCPU, r.ServerRSS, r.GroupsDropped)
	}
	if len(rs) == 2 && rs[0].ServerCPU > 0 && rs[0].LatencyP99 > 0 {
		fmt.Fprintf(w, "relay/baseline: CPU %.2fx, p99 latency %.2fx\n", rs[1].ServerCPU/rs[0].ServerCPU, rs[1].LatencyP99/rs[0].LatencyP99)
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
