package relay_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gomoq/gomoq/internal/quictest"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// metricsRelay is a relay serving sessions on a loopback QUIC port and on
// WebSocket, and its metrics over HTTP, on monitored loopback TCP listeners
// ("web" and "internal").
type metricsRelay struct {
	*testRelay
	metricsURL string
	// served receives a value each time the relay's setup handler
	// returns: for an accepted session, once the relay served it to its end.
	served chan struct{}
}

func startMetricsRelay(t *testing.T, opts relay.Options) *metricsRelay {
	t.Helper()
	opts.Logger = logger()
	r := relay.New(opts)
	srv := &moqt.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		Config:    &moqt.Config{CheckHTTPOrigin: func(*http.Request) bool { return true }},
		Logger:    logger(),
	}
	served := make(chan struct{}, 64)
	h := r.SetupHandler(srv)
	srv.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		defer func() { served <- struct{}{} }()
		h.ServeMOQ(w, req)
	})
	tc := srv.TLSConfig.Clone()
	tc.NextProtos = srv.NextProtos(nil)
	ln, closeTransport := quictest.ListenLoopback(t, tc, srv.QUICListenConfig())
	done := make(chan struct{})
	go func() {
		srv.ServeQUICListener(ln)
		close(done)
	}()
	web := httptest.NewUnstartedServer(r.WebSocketHandler(srv, r.HTTPHandler(cert.SHA256)))
	web.Listener = r.MonitorListener("web", web.Listener)
	web.Start()
	internal := httptest.NewUnstartedServer(r.MetricsHandler())
	internal.Listener = r.MonitorListener("internal", internal.Listener)
	internal.Start()
	t.Cleanup(func() {
		internal.Close()
		srv.Close()
		<-done
		web.Close()
		r.Close()
		closeTransport()
	})
	tr := &testRelay{Relay: r, addr: ln.Addr().String(), httpAddr: web.Listener.Addr().String()}
	return &metricsRelay{testRelay: tr, metricsURL: internal.URL + "/metrics", served: served}
}

// scrape is one scrape of the metrics: the exposition text and its samples
// by "name{label="value",...}" (labels sorted by name).
type scrape struct {
	text    []byte
	samples map[string]float64
}

func (r *metricsRelay) scrape(t *testing.T) *scrape {
	t.Helper()
	resp, err := http.Get(r.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, text)
	}
	s := &scrape{text: text, samples: map[string]float64{}}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
			s.samples[name+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return s
}

// expect checks samples (keys as in scrape.samples).
func (s *scrape) expect(t *testing.T, when string, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		got, ok := s.samples[k]
		if !ok {
			t.Errorf("%s: no sample %s", when, k)
			continue
		}
		if got != v {
			t.Errorf("%s: %s = %v, want %v", when, k, got, v)
		}
	}
	if t.Failed() {
		t.Fatalf("exposition:\n%s", s.text)
	}
}

// traffic returns the keys of a moq-relay traffic counter for a role.
func traffic(name, role string) string { return name + `{role="` + role + `",tier=""}` }

// announcer publishes an empty broadcast at path: seeing it announced
// tells that the relay serves its session.
func announcer(path moqt.BroadcastPath) *moqt.TrackMux {
	mux := moqt.NewTrackMux()
	mux.PublishFunc(context.Background(), path, func(tw *moqt.TrackWriter) { tw.Close() })
	return mux
}

// TestMetricsCountARun publishes a known track through the relay to four
// subscriptions (two on one native QUIC session, one on WebTransport, one
// on WebSocket) and
// checks that the metrics moved by exactly what went through, then that
// promtool accepts the exposition.
func TestMetricsCountARun(t *testing.T) {
	leakCheck(t)
	const groups, frames, size = 8, 5, 100
	r := startMetricsRelay(t, relay.Options{})

	finish := make(chan struct{})
	var served atomic.Int64
	mux := moqt.NewTrackMux()
	mux.PublishFunc(context.Background(), "/live", func(tw *moqt.TrackWriter) {
		served.Add(1)
		for g := range groups {
			gw, err := tw.OpenGroup(context.Background(), uint64(g))
			if err != nil {
				t.Errorf("OpenGroup: %v", err)
				return
			}
			for range frames {
				gw.WriteFrame(context.Background(), moqt.NewFrame(make([]byte, size)))
			}
			gw.Close()
		}
		select {
		case <-finish:
			tw.Close()
		case <-tw.Context().Done():
		}
	})
	pub := dial(t, r.testRelay, "quic", moqt.LiteDraft05, "/", mux)
	a := dial(t, r.testRelay, "quic", moqt.LiteDraft05, "/", announcer("/a"))
	b := dial(t, r.testRelay, "webtransport", moqt.LiteDraft05, "/", announcer("/b"))
	ws := dial(t, r.testRelay, "websocket", moqt.LiteDraft05, "/", announcer("/w"))
	idle := dial(t, r.testRelay, "quic", moqt.LiteDraft03, "/", announcer("/c"))
	// Every session is served once its broadcast is announced.
	// (A session is not shown its own broadcasts.)
	for _, path := range []moqt.BroadcastPath{"/live", "/a", "/c", "/w"} {
		waitAnnounce(t, b, "/", path)
	}
	waitAnnounce(t, a, "/", "/b")

	// Every subscription starts at group 0 (still cached), so that each
	// gets every group however late it joins.
	zero := uint64(0)
	cfg := &moqt.TrackConfig{StartGroup: &zero, Ordered: true, MaxLatency: time.Minute}
	var readers []*moqt.TrackReader
	for _, sess := range []*moqt.Session{a, a, b, ws} {
		tr, err := sess.Subscribe(context.Background(), "/live", "t", cfg)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, tr)
	}
	for _, tr := range readers {
		readAllGroups(t, tr, groups, frames)
	}

	r.scrape(t).expect(t, "while subscribed", map[string]float64{
		`moq_relay_sessions{transport="quic",version="moq-lite-05"}`:         2,
		`moq_relay_sessions{transport="webtransport",version="moq-lite-05"}`: 1,
		`moq_relay_sessions{transport="quic",version="moq-lite-03"}`:         1,
		`moq_relay_sessions{transport="websocket",version="moq-lite-05"}`:    1,
		`moq_relay_sessions{transport="quic",version="moq-lite-04"}`:         0,
		`moq_relay_sessions_opened_total{tier=""}`:                           5,
		`moq_relay_sessions_closed_total{tier=""}`:                           0,
		`moq_relay_upstream_subscriptions{}`:                                 1,
		`moq_relay_broadcasts{}`:                                             5,
		traffic("moq_relay_subscriptions_opened_total", "publisher"):         4,
		traffic("moq_relay_subscriptions_opened_total", "subscriber"):        1,
		traffic("moq_relay_viewers_opened_total", "publisher"):               3,
		traffic("moq_relay_viewers_closed_total", "publisher"):               0,
	})

	// The publisher ends the track: every subscriber reads its end, which
	// the relay sends once it sent every group.
	close(finish)
	for _, tr := range readers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := tr.AcceptGroup(ctx); err != io.EOF {
			t.Fatalf("after the last group: %v, want io.EOF", err)
		}
		cancel()
	}
	if n := served.Load(); n != 1 {
		t.Fatalf("the publisher served %d subscriptions, want 1 for 4 subscribers", n)
	}
	r.scrape(t).expect(t, "after the track ended", map[string]float64{
		traffic("moq_relay_groups_total", "subscriber"):                          groups,
		traffic("moq_relay_frames_total", "subscriber"):                          groups * frames,
		traffic("moq_relay_bytes_total", "subscriber"):                           groups * frames * size,
		traffic("moq_relay_groups_total", "publisher"):                           4 * groups,
		traffic("moq_relay_frames_total", "publisher"):                           4 * groups * frames,
		traffic("moq_relay_bytes_total", "publisher"):                            4 * groups * frames * size,
		traffic("moq_relay_datagrams_total", "publisher"):                        0,
		traffic("moq_relay_fetches_total", "publisher"):                          0,
		traffic("moq_relay_subscriptions_opened_total", "publisher"):             4,
		traffic("moq_relay_subscriptions_closed_total", "publisher"):             4,
		traffic("moq_relay_subscriptions_opened_total", "subscriber"):            1,
		traffic("moq_relay_subscriptions_closed_total", "subscriber"):            1,
		traffic("moq_relay_viewers_opened_total", "publisher"):                   3,
		traffic("moq_relay_viewers_closed_total", "publisher"):                   3,
		`moq_relay_upstream_subscriptions{}`:                                     0,
		`moq_relay_cache_bytes{}`:                                                0,
		`moq_relay_groups_dropped_total{reason="latency"}`:                       0,
		`moq_relay_groups_dropped_total{reason="buffer"}`:                        0,
		`moq_relay_groups_dropped_total{reason="never_received"}`:                0,
		`moq_relay_upstream_groups_lost_total{reason="dropped"}`:                 0,
		`moq_relay_upstream_groups_lost_total{reason="too_large"}`:               0,
		`moq_relay_accept_failures_total{class="exhausted",listener="internal"}`: 0,
		`moq_relay_accept_failures_total{class="exhausted",listener="web"}`:      0,
		`moq_relay_accept_stalled_seconds{listener="internal"}`:                  0,
		`moq_relay_setup_failures_total{reason="rejected"}`:                      0,
	})

	// The sessions end: once the relay served each to its end, it counts
	// them closed.
	for _, sess := range []*moqt.Session{pub, a, b, ws, idle} {
		sess.Terminate(moqt.NoError, "")
	}
	for range 5 {
		<-r.served
	}
	final := r.scrape(t)
	final.expect(t, "after the sessions ended", map[string]float64{
		`moq_relay_sessions_opened_total{tier=""}`:                           5,
		`moq_relay_sessions_closed_total{tier=""}`:                           5,
		`moq_relay_sessions{transport="websocket",version="moq-lite-05"}`:    0,
		`moq_relay_sessions{transport="quic",version="moq-lite-05"}`:         0,
		`moq_relay_sessions{transport="webtransport",version="moq-lite-05"}`: 0,
		`moq_relay_sessions{transport="quic",version="moq-lite-03"}`:         0,
	})
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := final.samples[name+"{}"]; !ok {
			t.Errorf("no %s: the Go runtime and process collectors are missing", name)
		}
	}
	if os.Getenv("DUMP_METRICS") != "" {
		os.WriteFile(os.Getenv("DUMP_METRICS"), final.text, 0o644)
	}
	promtoolCheck(t, final.text)
}

// readAllGroups reads n groups of k frames each, each group to its end.
func readAllGroups(t *testing.T, tr *moqt.TrackReader, n, k int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[uint64]bool{}
	for len(seen) < n {
		gr, err := tr.AcceptGroup(ctx)
		if err != nil {
			t.Fatalf("after %d groups: %v", len(seen), err)
		}
		if seen[gr.GroupSequence()] {
			t.Fatalf("group %d twice", gr.GroupSequence())
		}
		seen[gr.GroupSequence()] = true
		got := 0
		for {
			if _, err := gr.ReadFrame(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("group %d: %v", gr.GroupSequence(), err)
			}
			got++
		}
		if got != k {
			t.Fatalf("group %d: %d frames, want %d", gr.GroupSequence(), got, k)
		}
	}
}

// promtoolCheck runs `promtool check metrics` on an exposition. Without
// promtool the test fails under CI (CI=true) and is skipped elsewhere.
func promtoolCheck(t *testing.T, text []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing (Debian package prometheus): CI must install it")
		}
		t.Skip("promtool not found (apt-get install prometheus): not checking the exposition with it")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, text)
	}
}

// Refusals by the authorizer and setup failures are counted by reason.
func TestMetricsCountRefusals(t *testing.T) {
	leakCheck(t)
	r := startMetricsRelay(t, relay.Options{Auth: &relay.JWTAuth{Public: []string{"open"}}})
	refused := func(transport, path string) {
		t.Helper()
		sess, err := dialErr(t, r.testRelay, transport, moqt.LiteDraft05, path, nil)
		if err == nil {
			<-sess.Context().Done()
		}
		<-r.served
	}
	refused("webtransport", "/secret")
	refused("quic", "/secret")
	refused("websocket", "/secret")
	refused("webtransport", "/secret?jwt=x")
	r.scrape(t).expect(t, "after four refusals", map[string]float64{
		`moq_relay_auth_refusals_total{reason="no_token"}`:        3,
		`moq_relay_auth_refusals_total{reason="tokens_disabled"}`: 1,
		`moq_relay_auth_refusals_total{reason="expired"}`:         0,
		`moq_relay_setup_failures_total{reason="rejected"}`:       4,
		`moq_relay_setup_failures_total{reason="timeout"}`:        0,
		`moq_relay_sessions_opened_total{tier=""}`:                0,
	})
}

// MonitorListener counts failed accepts by class and reports a stall for
// lack of resources until an accept succeeds.
func TestMonitorListener(t *testing.T) {
	r := relay.New(relay.Options{})
	defer r.Close()
	fl := &failingListener{errs: []error{
		&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)},
		&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ECONNRESET)},
		errors.New("something else"),
		nil, // accepted
		net.ErrClosed,
	}}
	ln := r.MonitorListener("web", fl)
	if r.MonitorListener("web", fl) != net.Listener(fl) {
		t.Fatal("a second listener named web was monitored")
	}
	collect := func() map[string]float64 {
		reg := r.MetricsRegistry()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range fams {
			if !strings.HasPrefix(f.GetName(), "moq_relay_accept_") {
				continue
			}
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return out
	}
	ln.Accept() // EMFILE: the listener stalls
	if got := collect()["moq_relay_accept_stalled_seconds{listener=web}"]; got < 0 {
		t.Fatalf("stalled %v seconds", got)
	}
	ln.Accept() // ECONNRESET
	ln.Accept() // unknown
	if c, err := ln.Accept(); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	ln.Accept() // closed: not a failure
	want := map[string]float64{
		"moq_relay_accept_failures_total{class=exhausted,listener=web}":  1,
		"moq_relay_accept_failures_total{class=connection,listener=web}": 1,
		"moq_relay_accept_failures_total{class=unknown,listener=web}":    1,
		"moq_relay_accept_stalled_seconds{listener=web}":                 0,
	}
	got := collect()
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// failingListener returns errs from Accept in turn (nil: a connection).
type failingListener struct {
	mu   sync.Mutex
	errs []error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.errs[0]
	l.errs = l.errs[1:]
	if err != nil {
		return nil, err
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func (l *failingListener) Close() error   { return nil }
func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{} }
