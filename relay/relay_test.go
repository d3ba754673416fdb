package relay_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomoq/gomoq/internal/quictest"
	"github.com/gomoq/gomoq/internal/selfsign"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
	"go.uber.org/goleak"
)

// TestMain fails the tests if any goroutine outlives them; each forEach
// test also checks its own (leakCheck).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var cert = func() *selfsign.Certificate {
	c, err := selfsign.Generate([]string{"127.0.0.1"}, 0)
	if err != nil {
		panic(err)
	}
	return c
}()

func logger() *slog.Logger {
	if os.Getenv("MOQT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type testRelay struct {
	*relay.Relay
	addr     string // UDP: QUIC and WebTransport
	httpAddr string // TCP: the HTTP endpoints and WebSocket
}

func startRelay(t testing.TB, opts relay.Options) *testRelay {
	return startRelayWith(t, opts, &moqt.Config{})
}

func startRelayWith(t testing.TB, opts relay.Options, cfg *moqt.Config) *testRelay {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = logger()
	}
	r := relay.New(opts)
	cfg.CheckHTTPOrigin = func(*http.Request) bool { return true }
	srv := &moqt.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		Config:    cfg,
		Logger:    logger(),
	}
	var wg sync.WaitGroup
	h := r.SetupHandler(srv)
	srv.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		wg.Add(1)
		defer wg.Done()
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
	// The HTTP side, as moq-relay serves it: WebSocket upgrades at any
	// path, the HTTP endpoints otherwise.
	hs := httptest.NewServer(r.WebSocketHandler(srv, r.HTTPHandler(cert.SHA256)))
	t.Cleanup(func() {
		srv.Close()
		<-done
		wg.Wait()
		hs.Close()
		r.Close()
		closeTransport()
	})
	return &testRelay{Relay: r, addr: ln.Addr().String(), httpAddr: hs.Listener.Addr().String()}
}

func dial(t testing.TB, r *testRelay, transport string, v moqt.Version, path string, mux *moqt.TrackMux) *moqt.Session {
	t.Helper()
	sess, err := dialErr(t, r, transport, v, path, mux)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// dialErr dials like dial but returns the error.
func dialErr(t testing.TB, r *testRelay, transport string, v moqt.Version, path string, mux *moqt.TrackMux) (*moqt.Session, error) {
	t.Helper()
	c := &moqt.Client{
		TLSConfig: &tls.Config{RootCAs: cert.Pool()},
		Config:    &moqt.Config{Versions: []moqt.Version{v}},
		Logger:    logger(),
	}
	t.Cleanup(func() { c.Close() })
	url := "https://" + r.addr + path
	switch transport {
	case "quic":
		url = "moqt://" + r.addr + path
	case "websocket":
		url = "ws://" + r.httpAddr + path
	}
	if mux == nil {
		mux = moqt.NewTrackMux()
	}
	return c.Dial(context.Background(), url, mux)
}

// leakCheck registers, as the test's last cleanup, a check that every
// goroutine started during the test is gone once everything was closed.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func forEach(t *testing.T, f func(t *testing.T, transport string, v moqt.Version)) {
	for _, transport := range []string{"quic", "webtransport", "websocket"} {
		for _, v := range moqt.SupportedVersions() {
			t.Run(transport+"/"+v.String(), func(t *testing.T) {
				leakCheck(t)
				f(t, transport, v)
			})
		}
	}
}

// livePublisher publishes a broadcast whose track "t" gets a group of
// `frames` frames every period, until ctx ends; it counts the
// subscriptions it serves.
type livePublisher struct {
	frames int
	period time.Duration
	served atomic.Int64
	next   atomic.Uint64
}

func (p *livePublisher) ServeTrack(tw *moqt.TrackWriter) {
	p.served.Add(1)
	tick := time.NewTicker(p.period)
	defer tick.Stop()
	for {
		seq := p.next.Add(1) - 1
		gw, err := tw.OpenGroup(context.Background(), seq)
		if err != nil {
			return
		}
		for f := range p.frames {
			now := time.Now().UnixMicro()
			if err := gw.WriteFrame(context.Background(), &moqt.Frame{Payload: fmt.Appendf(nil, "%d:%d:%d", seq, f, now), Timestamp: uint64(now)}); err != nil {
				return
			}
			if f < p.frames-1 {
				select {
				case <-time.After(p.period / time.Duration(p.frames)):
				case <-tw.Context().Done():
					return
				}
			}
		}
		gw.Close()
		select {
		case <-tick.C:
		case <-tw.Context().Done():
			return
		}
	}
}

func waitAnnounce(t *testing.T, sess *moqt.Session, prefix, want moqt.BroadcastPath) *moqt.Announcement {
	t.Helper()
	ar, err := sess.AcceptAnnounce(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			t.Fatalf("waiting for %s under %s: %v", want, prefix, err)
		}
		if a.BroadcastPath() == want {
			return a
		}
	}
}

// readFrames reads n frames of a track (across groups), checking that
// groups start at frame 0 and frames are in order within them.
func readFrames(t *testing.T, tr *moqt.TrackReader, n int) (first uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := 0
	for i := 0; got < n; i++ {
		gr, err := tr.AcceptGroup(ctx)
		if err != nil {
			t.Fatalf("AcceptGroup after %d frames: %v", got, err)
		}
		if i == 0 {
			first = gr.GroupSequence()
		}
		for f := 0; got < n; f++ {
			fr, err := gr.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			var seq, idx, ts int64
			fmt.Sscanf(string(fr.Payload), "%d:%d:%d", &seq, &idx, &ts)
			if uint64(seq) != gr.GroupSequence() || int(idx) != f {
				t.Fatalf("frame %q in group %d at index %d", fr.Payload, gr.GroupSequence(), f)
			}
			got++
		}
	}
	return first
}

func TestDedupOneUpstream(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{})
		pub := &livePublisher{frames: 5, period: 50 * time.Millisecond}
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", pub)
		dial(t, r, transport, v, "/", mux)

		const n = 8
		var wg sync.WaitGroup
		readers := make([]*moqt.TrackReader, n)
		for i := range n {
			sess := dial(t, r, transport, v, "/", nil)
			waitAnnounce(t, sess, "/", "/live")
			tr, err := sess.Subscribe(context.Background(), "/live", "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			readers[i] = tr
		}
		for _, tr := range readers {
			wg.Go(func() { readFrames(t, tr, 10) })
		}
		wg.Wait()
		if got := r.Stats().Upstreams; got != 1 {
			t.Fatalf("%d upstream subscriptions for %d subscribers, want 1", got, n)
		}
		if got := pub.served.Load(); got != 1 {
			t.Fatalf("publisher served %d subscriptions, want 1", got)
		}
		if got := r.Stats().Subscribers; got != n {
			t.Fatalf("relay serves %d subscribers, want %d", got, n)
		}
		for _, tr := range readers {
			tr.Close()
		}
		// The upstream subscription goes once the last subscriber left (after the linger).
		deadline := time.Now().Add(5 * time.Second)
		for r.Stats().Upstreams != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("upstream still open with no subscriber")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestScopingAndAnnouncements(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		if transport == "quic" && !v.IsIETF() && v < moqt.LiteDraft05 {
			t.Skip("native moq-lite-03/04 carry no URL path to scope by")
		}
		r := startRelay(t, relay.Options{})
		pub := &livePublisher{frames: 2, period: 50 * time.Millisecond}
		mux := moqt.NewTrackMux()
		ctx, unpublish := context.WithCancel(context.Background())
		mux.Publish(ctx, "/alice", pub)
		dial(t, r, transport, v, "/room", mux) // announced before the others connect

		root := dial(t, r, transport, v, "/", nil)
		inRoom := dial(t, r, transport, v, "/room", nil)
		elsewhere := dial(t, r, transport, v, "/other", nil)

		a1 := waitAnnounce(t, root, "/", "/room/alice")
		a2 := waitAnnounce(t, inRoom, "/", "/alice")
		tr, err := inRoom.Subscribe(context.Background(), "/alice", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrames(t, tr, 3)
		tr2, err := root.Subscribe(context.Background(), "/room/alice", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrames(t, tr2, 3)
		if _, err := elsewhere.Subscribe(context.Background(), "/alice", "t", nil); err == nil {
			t.Fatal("a session at /other reached /room/alice")
		}
		unpublish()
		for _, a := range []*moqt.Announcement{a1, a2} {
			select {
			case <-a.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("end of %s not announced", a.BroadcastPath())
			}
		}
	})
}

func TestLateJoinStartsAtLatestGroup(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{})
		pub := &livePublisher{frames: 10, period: 200 * time.Millisecond}
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", pub)
		dial(t, r, transport, v, "/", mux)
		early := dial(t, r, transport, v, "/", nil)
		waitAnnounce(t, early, "/", "/live")
		tr, err := early.Subscribe(context.Background(), "/live", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrames(t, tr, 25) // into group 2
		late := dial(t, r, transport, v, "/", nil)
		tr2, err := late.Subscribe(context.Background(), "/live", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		first := readFrames(t, tr2, 1) // readFrames checks it is frame 0 of its group
		if first < 2 {
			t.Fatalf("late subscriber started at group %d, want the latest (>= 2)", first)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("late subscriber waited %v for its first frame; the cached group should come at once", d)
		}
	})
}

// TestPublisherLossEndsBroadcast: without a linger, a broadcast ends with
// its publisher's session, and so do its subscribers' tracks.
func TestPublisherLossEndsBroadcast(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{BroadcastLinger: -1})
		pub := &livePublisher{frames: 5, period: 50 * time.Millisecond}
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", pub)
		pubSess := dial(t, r, transport, v, "/", mux)
		sub := dial(t, r, transport, v, "/", nil)
		a := waitAnnounce(t, sub, "/", "/live")
		tr, err := sub.Subscribe(context.Background(), "/live", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrames(t, tr, 3)
		pubSess.Terminate(moqt.InternalSessionError, "gone")
		select {
		case <-a.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("broadcast still announced after its publisher left")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			gr, err := tr.AcceptGroup(ctx)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatal("track did not end after its publisher left")
				}
				break
			}
			for {
				if _, err := gr.ReadFrame(); err != nil {
					break
				}
			}
		}
	})
}
