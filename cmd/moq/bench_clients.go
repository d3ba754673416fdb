package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/quic-go/quic-go/quicvarint"
)

// runBenchClients is the clients process of `moq bench`: the publisher and
// the subscribers. It announces its phases on stderr (the parent measures
// the server at each): "IDLE_BEFORE", "IDLE_AFTER", "IDLE_SAMPLE",
// "IDLE_END" (--idle), "WARMUP", "MEASURE_START", "MEASURE_END",
// "CROWD_START", "CROWD_END" (--crowd); and prints a clientResult as JSON.
func runBenchClients(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("moq bench-clients", flag.ContinueOnError)
	mode := fs.String("mode", "relay", "relay or baseline")
	addr := fs.String("addr", "", "server host:port")
	transport := fs.String("transport", "quic", "quic, webtransport or websocket")
	n := fs.Int("subscribers", 100, "subscribers")
	warmup := fs.Duration("warmup", 3*time.Second, "warm-up")
	duration := fs.Duration("duration", 5*time.Second, "measurement")
	var tr traffic
	fs.StringVar(&tr.profile, "profile", "data", "data or video")
	fs.IntVar(&tr.bitrate, "bitrate", 1_000_000, "bytes per second")
	fs.IntVar(&tr.frameSize, "frame-size", 1000, "bytes per frame")
	fs.IntVar(&tr.groupFrames, "group-frames", 30, "frames per group")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the clients to `file`")
	maxLatency := fs.Duration("max-latency", 0, "latency bound the subscribers ask for")
	crowd := fs.Int("crowd", 0, "subscribers dialing at once after the measurement")
	crowdTimeout := fs.Duration("crowd-timeout", 30*time.Second, "how long the crowd may take to get its first frames")
	idle := fs.Int("idle", 0, "idle sessions connected before the subscribers")
	idleHold := fs.Duration("idle-hold", 10*time.Second, "how long the idle sessions are held")
	idleSettle := fs.Duration("idle-settle", 2*time.Second, "wait after connecting the idle sessions before measuring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// One socket per connection (moqt.Client and quic.DialAddr each bind
	// their own UDP socket; WebSocket sessions one TCP socket each).
	if err := checkFiles(*n + *crowd + *idle + 1); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &benchClients{
		ctx: ctx, mode: *mode, addr: *addr, transport: *transport,
		shapes: tr.tracks(), maxLatency: *maxLatency,
		client: &moqt.Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	context.AfterFunc(ctx, func() { c.client.Close() })
	defer c.wg.Wait()
	defer cancel()
	// The idle sessions come first, onto a server with nothing else
	// connected (and no traffic whose garbage would blur its RSS).
	var res clientResult
	if *idle > 0 {
		res.IdleConnected = c.idlePhase(*idle, *idleSettle, *idleHold)
	}
	if err := c.publish(); err != nil {
		return err
	}
	recs := make([]*recorder, *n)
	for i := range recs {
		recs[i] = &recorder{}
	}
	connected, err := c.subscribeAll(recs)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "WARMUP")
	time.Sleep(*warmup)
	start := time.Now()
	end := start.Add(*duration)
	for _, r := range recs {
		r.setWindow(start, end)
	}
	fmt.Fprintln(os.Stderr, "MEASURE_START")
	time.Sleep(*duration)
	fmt.Fprintln(os.Stderr, "MEASURE_END")
	// The measurement window is time by definition; after it, a grace
	// for frames sent in the window that are still on their way.
	time.Sleep(time.Second)
	idleConnected := res.IdleConnected
	res = summarize(recs, c.shapes, *duration)
	res.Connected = connected
	res.IdleConnected = idleConnected
	if *crowd > 0 {
		res.Crowd = c.crowdPhase(recs, *crowd, *crowdTimeout)
		res.Crowd.BeforeP50, res.Crowd.BeforeP99 = res.LatencyP50, res.LatencyP99
	}
	cancel()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// checkFiles fails early, with a hint, when the process may not open the
// sockets it needs (Go raises the soft limit to the hard one at start).
func checkFiles(conns int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil
	}
	if need := uint64(conns) + 64; rl.Cur < need {
		return fmt.Errorf("%d connections need about %d file descriptors, the limit is %d: raise it (ulimit -n %d)", conns, need, rl.Cur, need)
	}
	return nil
}

// benchClients is the state of the clients process.
type benchClients struct {
	ctx        context.Context
	wg         sync.WaitGroup
	mode       string
	addr       string
	transport  string
	shapes     []trackShape
	maxLatency time.Duration
	client     *moqt.Client // the subscribers'
}

func (c *benchClients) url() string {
	switch c.transport {
	case "webtransport":
		return "https://" + c.addr + "/"
	case "websocket":
		return "ws://" + c.addr + "/" // the relay's HTTP listener, on TCP of the same port
	}
	return "moqt://" + c.addr + "/"
}

func (c *benchClients) publish() error {
	if c.mode == "baseline" {
		return c.baselinePublisher()
	}
	return c.relayPublisher()
}

// relayPublisher publishes the broadcast /bench with the profile's tracks,
// written at their rates to whoever subscribes (the relay, once each).
func (c *benchClients) relayPublisher() error {
	type item struct {
		group uint64
		p     []byte
	}
	var mu sync.Mutex
	subs := make([]map[chan item]struct{}, len(c.shapes))
	for i := range subs {
		subs[i] = map[chan item]struct{}{}
	}
	mux := moqt.NewTrackMux()
	mux.PublishFunc(c.ctx, "/bench", func(tw *moqt.TrackWriter) {
		t := slices.IndexFunc(c.shapes, func(s trackShape) bool { return moqt.TrackName(s.name) == tw.TrackName() })
		if t < 0 {
			return
		}
		ch := make(chan item, 4096)
		mu.Lock()
		subs[t][ch] = struct{}{}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(subs[t], ch)
			mu.Unlock()
		}()
		var gw *moqt.GroupWriter
		var cur uint64
		for {
			var it item
			select {
			case it = <-ch:
			case <-tw.Context().Done():
				return
			}
			if gw == nil || it.group != cur {
				if gw != nil {
					gw.Close()
				}
				var err error
				if gw, err = tw.OpenGroup(context.Background(), it.group); err != nil {
					return
				}
				cur = it.group
			}
			if err := gw.WriteFrame(context.Background(), &moqt.Frame{Payload: it.p}); err != nil {
				return
			}
		}
	})
	pubClient := &moqt.Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	context.AfterFunc(c.ctx, func() { pubClient.Close() })
	if _, err := pubClient.Dial(c.ctx, "moqt://"+c.addr+"/", mux); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	if err := c.waitAnnounced("/bench"); err != nil {
		return err
	}
	for t, s := range c.shapes {
		c.wg.Go(func() {
			s.pace(t, c.ctx.Done(), func(group uint64, p []byte) {
				mu.Lock()
				for ch := range subs[t] {
					select {
					case ch <- item{group, p}:
					default:
					}
				}
				mu.Unlock()
			})
		})
	}
	return nil
}

// waitAnnounced returns once the relay announces path, so that the
// subscribers find the broadcast.
func (c *benchClients) waitAnnounced(path moqt.BroadcastPath) error {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second) // a bound on a relay that never announces it
	defer cancel()
	probe := &moqt.Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	defer probe.Close()
	sess, err := probe.Dial(ctx, "moqt://"+c.addr+"/", nil)
	if err != nil {
		return fmt.Errorf("waiting for the relay to announce %s: %w", path, err)
	}
	ar, err := sess.AcceptAnnounce(ctx, "/")
	if err != nil {
		return fmt.Errorf("waiting for the relay to announce %s: %w", path, err)
	}
	defer ar.Close()
	for {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the relay to announce %s: %w", path, err)
		}
		if a.BroadcastPath() == path {
			return nil
		}
	}
}

// baselinePublisher sends the tracks to the baseline forwarder over QUIC:
// one uni stream per group, each frame a varint length and the payload,
// written once per frame as the relay's publisher does.
func (c *benchClients) baselinePublisher() error {
	conn, err := quic.DialAddr(c.ctx, c.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{baselinePubALPN}}, &quic.Config{})
	if err != nil {
		return fmt.Errorf("baseline publisher: %w", err)
	}
	context.AfterFunc(c.ctx, func() { conn.CloseWithError(0, "") })
	for t, s := range c.shapes {
		c.wg.Go(func() {
			var str quic.SendStream
			var cur uint64
			var buf []byte
			s.pace(t, c.ctx.Done(), func(group uint64, p []byte) {
				if str == nil || group != cur {
					if str != nil {
						str.Close()
					}
					var err error
					if str, err = conn.OpenUniStreamSync(c.ctx); err != nil {
						str = nil
						return
					}
					cur = group
				}
				buf = quicvarint.Append(buf[:0], uint64(len(p)))
				buf = append(buf, p...)
				str.Write(buf)
			})
		})
	}
	return nil
}

// subscribe connects one subscriber reading every track into rec: a MoQ
// session subscribed to each track (relay), or a raw QUIC connection
// (baseline). done is closed when the session or connection ends.
func (c *benchClients) subscribe(rec *recorder) (done <-chan struct{}, err error) {
	if c.mode == "baseline" {
		conn, err := quic.DialAddr(c.ctx, c.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{baselineALPN}}, &quic.Config{})
		if err != nil {
			return nil, err
		}
		context.AfterFunc(c.ctx, func() { conn.CloseWithError(0, "") })
		c.wg.Go(func() { readBaseline(c.ctx, conn, rec) })
		return conn.Context().Done(), nil
	}
	sess, err := c.client.Dial(c.ctx, c.url(), nil)
	if err != nil {
		return nil, err
	}
	for _, s := range c.shapes {
		trk, err := sess.Subscribe(context.Background(), "/bench", moqt.TrackName(s.name), &moqt.TrackConfig{MaxLatency: c.maxLatency})
		if err != nil {
			sess.Terminate(moqt.NoError, "")
			return nil, err
		}
		c.wg.Go(func() { readTrack(c.ctx, trk, rec) })
	}
	return sess.Context().Done(), nil
}

// subscribeAll connects the subscribers, 16 at a time.
func (c *benchClients) subscribeAll(recs []*recorder) (int, error) {
	var (
		mu        sync.Mutex
		connected int
		firstErr  error
		wg        sync.WaitGroup
	)
	sem := make(chan struct{}, 16)
	for _, rec := range recs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := c.subscribe(rec)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			connected++
		})
	}
	wg.Wait()
	if connected == 0 && len(recs) > 0 {
		return 0, fmt.Errorf("no subscriber connected: %w", firstErr)
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "moq bench: %d of %d subscribers connected; first error: %v\n", connected, len(recs), firstErr)
	}
	return connected, nil
}

// crowdPhase dials n more subscribers at once (one goroutine each, released
// together) to the live broadcast and measures each one's time from dial to
// its first frame, while recs (the existing subscribers) record the latency
// of the frames sent during the arrival (at least 1 s).
func (c *benchClients) crowdPhase(recs []*recorder, n int, timeout time.Duration) *crowdResult {
	res := &crowdResult{N: n}
	crecs := make([]*recorder, n)
	dialAt := make([]time.Time, n)
	connect := make([]time.Duration, n)
	failed := make([]atomic.Bool, n)
	done := make([]<-chan struct{}, n)
	up := make([]atomic.Bool, n)     // connected; done[i] is set
	closed := make([]atomic.Bool, n) // ended before its first frame
	for i := range crecs {
		crecs[i] = &recorder{}
	}
	t0 := time.Now()
	for _, r := range recs {
		r.setCrowdWindow(t0.UnixNano(), math.MaxInt64)
	}
	fmt.Fprintln(os.Stderr, "CROWD_START")
	release := make(chan struct{})
	var ready sync.WaitGroup
	var dialErrs atomic.Int32
	var firstErr atomic.Value
	for i := range n {
		ready.Add(1)
		c.wg.Go(func() {
			ready.Done()
			<-release
			dialAt[i] = time.Now()
			d, err := c.subscribe(crecs[i])
			connect[i] = time.Since(dialAt[i])
			if err == nil {
				done[i] = d
				up[i].Store(true)
			}
			if err != nil {
				dialErrs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				failed[i].Store(true)
			}
		})
	}
	ready.Wait()
	close(release)
	deadline := t0.Add(timeout)
	for {
		pending := 0
		for i, r := range crecs {
			if r.first.Load() != 0 || failed[i].Load() || closed[i].Load() {
				continue
			}
			if up[i].Load() {
				select {
				case <-done[i]: // refused or closed by the server
					if r.first.Load() == 0 {
						closed[i].Store(true)
						continue
					}
				default:
				}
			}
			pending++
		}
		if pending == 0 || time.Now().After(deadline) {
			res.TimedOut = pending
			break
		}
		// A poll of the crowd's first-frame stamps, at a resolution far
		// below what it measures (hundreds of ms); a bench, not a protocol.
		time.Sleep(10 * time.Millisecond)
	}
	arrived := time.Now()
	res.ArrivalMs = ms(arrived.Sub(t0))
	if d := time.Until(t0.Add(time.Second)); d > 0 {
		time.Sleep(d)
	}
	end := time.Now()
	for _, r := range recs {
		r.setCrowdWindow(t0.UnixNano(), end.UnixNano())
	}
	fmt.Fprintln(os.Stderr, "CROWD_END")
	time.Sleep(time.Second) // frames sent in the window may still arrive
	var conn, first []time.Duration
	for i, r := range crecs {
		if failed[i].Load() {
			continue
		}
		res.Connected++
		if closed[i].Load() {
			res.Closed++
			continue
		}
		conn = append(conn, connect[i])
		if f := r.first.Load(); f != 0 {
			res.Received++
			first = append(first, time.Duration(f-dialAt[i].UnixNano()))
		}
	}
	res.DialErrors = int(dialErrs.Load())
	if res.Closed > 0 {
		fmt.Fprintf(os.Stderr, "moq bench: crowd: %d connections were closed by the server before their first frame (quic-go refuses a handshaken connection when its accept queue of 32 is full)\n", res.Closed)
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "moq bench: crowd: %d of %d failed to connect; first error: %v\n", res.DialErrors, n, e)
	}
	res.ConnectP50, res.ConnectP99, _ = percentiles(conn)
	res.FirstP50, res.FirstP99, res.FirstMax = percentiles(first)
	res.DuringP50, res.DuringP99, res.DuringMax = crowdLatency(recs)
	return res
}

// parentIn is the bench parent's side of stdin: it writes a line when it
// has measured what a line on stderr announced.
var parentIn = sync.OnceValue(func() *bufio.Reader { return bufio.NewReader(os.Stdin) })

// waitParent waits for the parent's line (or for its end: a parent gone
// waits for nothing).
func waitParent() { parentIn().ReadString('\n') }

// idlePhase connects k idle sessions (connected, nothing subscribed; on the
// baseline, QUIC connections it holds without sending), so that the parent
// can measure the server's RSS before ("IDLE_BEFORE"), after
// ("IDLE_AFTER"), during ("IDLE_SAMPLE") and at the end of the hold
// ("IDLE_END"). It closes them and returns how many connected.
func (c *benchClients) idlePhase(k int, settle, hold time.Duration) int {
	// A measurement choice, not a synchronisation: the server's RSS right
	// after its start still moves (runtime and TLS set-up).
	time.Sleep(time.Second)
	fmt.Fprintln(os.Stderr, "IDLE_BEFORE")
	waitParent() // it reads the RSS
	idleClient := &moqt.Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	var (
		mu        sync.Mutex
		conns     []quic.Connection
		connected int
		firstErr  error
		wg        sync.WaitGroup
	)
	sem := make(chan struct{}, 16)
	for range k {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			var conn quic.Connection
			if c.mode == "baseline" {
				conn, err = quic.DialAddr(c.ctx, c.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{baselineIdleALPN}}, &quic.Config{KeepAlivePeriod: 5 * time.Second})
			} else {
				_, err = idleClient.Dial(c.ctx, c.url(), nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			connected++
			if conn != nil {
				conns = append(conns, conn)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "moq bench: %d of %d idle sessions connected; first error: %v\n", connected, k, firstErr)
	}
	time.Sleep(settle)
	fmt.Fprintln(os.Stderr, "IDLE_AFTER")
	// About ten samples over the hold, at least a second apart.
	step := max(hold/10, time.Second)
	t0 := time.Now()
	for i := 1; time.Duration(i)*step < hold; i++ {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * step)))
		fmt.Fprintln(os.Stderr, "IDLE_SAMPLE")
	}
	time.Sleep(time.Until(t0.Add(hold)))
	fmt.Fprintln(os.Stderr, "IDLE_END")
	waitParent() // it reads the RSS
	idleClient.Close()
	for _, conn := range conns {
		conn.CloseWithError(0, "")
	}
	return connected
}

func readTrack(ctx context.Context, tr *moqt.TrackReader, rec *recorder) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		gr, err := tr.AcceptGroup(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			for {
				f, err := gr.ReadFrame()
				if err != nil {
					if err != io.EOF {
						rec.groupDropped()
					}
					return
				}
				rec.frame(f.Payload)
			}
		})
	}
}

// readBaseline reads a baseline connection's streams into rec.
func readBaseline(ctx context.Context, conn quic.Connection, rec *recorder) {
	var sw sync.WaitGroup
	defer sw.Wait()
	for {
		str, err := conn.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		sw.Go(func() {
			br := bufio.NewReader(str)
			for {
				n, err := quicvarint.Read(br)
				if err != nil || n > 1<<20 {
					return
				}
				p := make([]byte, n)
				if _, err := io.ReadFull(br, p); err != nil {
					return
				}
				rec.frame(p)
			}
		})
	}
}
