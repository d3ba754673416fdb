package relay_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/relay"
)

// node is a relay of a test cluster, serving native QUIC and WebTransport
// on a loopback UDP port with its OriginID on the server.
type node struct {
	*testRelay
	stop func() // closes it (idempotent; also a cleanup)
}

// startNode starts a relay listening on udpAddr ("" for any port).
func startNode(t *testing.T, udpAddr string) *node {
	t.Helper()
	r := relay.New(relay.Options{Logger: logger()})
	srv := &moqt.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		Config:    &moqt.Config{OriginID: r.OriginID()},
		Logger:    logger(),
	}
	var wg sync.WaitGroup
	h := r.SetupHandler(srv)
	srv.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		wg.Add(1)
		defer wg.Done()
		h.ServeMOQ(w, req)
	})
	if udpAddr == "" {
		udpAddr = "127.0.0.1:0"
	}
	ua, err := net.ResolveUDPAddr("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Fatal(err)
	}
	tc := srv.TLSConfig.Clone()
	tc.NextProtos = srv.NextProtos(nil)
	tr := &quicgo.Transport{Conn: udp}
	ln, err := tr.ListenEarly(tc, srv.QUICListenConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		srv.ServeQUICListener(quic.WrapListener(ln))
		close(done)
	}()
	n := &node{testRelay: &testRelay{Relay: r, addr: ln.Addr().String()}}
	n.stop = sync.OnceFunc(func() {
		srv.Close()
		<-done
		wg.Wait()
		r.Close()
		tr.Close()
		udp.Close()
	})
	t.Cleanup(n.stop)
	return n
}

// peer links n to p over transport ("quic" or "webtransport") with version v.
func (n *node) peer(p *node, transport string, v moqt.Version) {
	u := "moqt://" + p.addr + "/"
	if transport == "webtransport" {
		u = "https://" + p.addr + "/"
	}
	n.Peer(u, &relay.PeerOptions{
		TLSConfig: &tls.Config{RootCAs: cert.Pool()},
		Config:    &moqt.Config{Versions: []moqt.Version{v}},
	})
}

// watcher records every announcement a session receives under "/": how
// many times each path was announced, which are active, their hops.
type watcher struct {
	mu      sync.Mutex
	count   map[moqt.BroadcastPath]int
	active  map[moqt.BroadcastPath]*moqt.Announcement
	changed chan struct{} // closed and replaced at each change
}

func watch(t *testing.T, sess *moqt.Session) *watcher {
	t.Helper()
	ar, err := sess.AcceptAnnounce(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{count: map[moqt.BroadcastPath]int{}, active: map[moqt.BroadcastPath]*moqt.Announcement{}, changed: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { ar.Close() })
	wg.Go(func() {
		for {
			a, err := ar.ReceiveAnnouncement(context.Background())
			if err != nil {
				return
			}
			p := a.BroadcastPath()
			w.update(func() { w.count[p]++; w.active[p] = a })
			wg.Go(func() {
				<-a.Done()
				w.update(func() {
					if w.active[p] == a {
						delete(w.active, p)
					}
				})
			})
		}
	})
	return w
}

func (w *watcher) update(f func()) {
	w.mu.Lock()
	f()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// waitFor waits until cond (called with w locked) holds, re-checking it
// at every change; what is a time bound on a failure, not a pace.
func (w *watcher) waitFor(t *testing.T, what string, cond func(w *watcher) bool) {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		ok, ch := cond(w), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("gave up waiting for %s: announced %v, active %v", what, w.count, slices.Collect(mapKeys(w.active)))
		}
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (w *watcher) waitActive(t *testing.T, p moqt.BroadcastPath) *moqt.Announcement {
	t.Helper()
	var a *moqt.Announcement
	w.waitFor(t, string(p)+" announced", func(w *watcher) bool { a = w.active[p]; return a != nil })
	return a
}

func (w *watcher) waitGone(t *testing.T, p moqt.BroadcastPath) {
	t.Helper()
	w.waitFor(t, string(p)+" ended", func(w *watcher) bool { return w.active[p] == nil })
}

func (w *watcher) announced(p moqt.BroadcastPath) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count[p]
}

// finitePublisher serves track "t" of its broadcast with n groups of two
// frames each, then ends it; it counts the subscriptions it serves. After
// group 0 it waits for attached to be closed (the subscriber got group 0:
// a relay starts a new subscriber at its latest group, so the rest must
// not be written before the subscriber is there).
type finitePublisher struct {
	n        int
	attached chan struct{}
	mu       sync.Mutex
	served   int
}

func newFinitePublisher(n int) *finitePublisher {
	return &finitePublisher{n: n, attached: make(chan struct{})}
}

func (p *finitePublisher) ServeTrack(tw *moqt.TrackWriter) {
	p.mu.Lock()
	p.served++
	p.mu.Unlock()
	for seq := range p.n {
		if seq == 1 {
			select {
			case <-p.attached:
			case <-tw.Context().Done():
				return
			}
		}
		gw, err := tw.OpenGroup(context.Background(), uint64(seq))
		if err != nil {
			return
		}
		for f := range 2 {
			gw.WriteFrame(context.Background(), moqt.NewFrame(fmt.Appendf(nil, "%d:%d", seq, f)))
		}
		gw.Close()
	}
	tw.Close()
}

func (p *finitePublisher) servedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served
}

// countGroups reads a track to its end and returns how many times each
// group sequence arrived, checking each group's frames.
func countGroups(t *testing.T, tr *moqt.TrackReader, attached chan struct{}) map[uint64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[uint64]int{}
	for {
		gr, err := tr.AcceptGroup(ctx)
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("AcceptGroup after %d groups: %v", len(got), err)
		}
		got[gr.GroupSequence()]++
		if len(got) == 1 {
			close(attached)
		}
		for f := 0; ; f++ {
			fr, err := gr.ReadFrame()
			if err == io.EOF {
				if f != 2 {
					t.Fatalf("group %d ended after %d frames, want 2", gr.GroupSequence(), f)
				}
				break
			}
			if err != nil {
				t.Fatalf("group %d: ReadFrame: %v", gr.GroupSequence(), err)
			}
			if want := fmt.Sprintf("%d:%d", gr.GroupSequence(), f); string(fr.Payload) != want {
				t.Fatalf("frame %q, want %q", fr.Payload, want)
			}
		}
	}
}

// checkOnce checks that groups 0..n-1 each arrived exactly once.
func checkOnce(t *testing.T, got map[uint64]int, n int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("%d distinct groups arrived, want %d", len(got), n)
	}
	for seq, c := range got {
		if seq >= uint64(n) || c != 1 {
			t.Errorf("group %d arrived %d times", seq, c)
		}
	}
}

// forPeering runs f for every version over native QUIC links, and for
// the newest over WebTransport links.
func forPeering(t *testing.T, f func(t *testing.T, transport string, v moqt.Version)) {
	for _, v := range moqt.LiteVersions() { // the cluster tests count moq-lite hop IDs
		t.Run("quic/"+v.String(), func(t *testing.T) {
			leakCheck(t)
			f(t, "quic", v)
		})
	}
	v := moqt.SupportedVersions()[0]
	t.Run("webtransport/"+v.String(), func(t *testing.T) {
		leakCheck(t)
		f(t, "webtransport", v)
	})
}

// TestClusterBothWays: relay B dials A; a publisher on A is watched by a
// subscriber on B and a publisher on B by a subscriber on A, over the one
// session, every group exactly once; the hop lists name both relays.
func TestClusterBothWays(t *testing.T) {
	const n = 50
	forPeering(t, func(t *testing.T, transport string, v moqt.Version) {
		a, b := startNode(t, ""), startNode(t, "")
		b.peer(a, transport, v)

		pubA, pubB := newFinitePublisher(n), newFinitePublisher(n)
		muxA, muxB := moqt.NewTrackMux(), moqt.NewTrackMux()
		muxA.Publish(context.Background(), "/from-a", pubA)
		muxB.Publish(context.Background(), "/from-b", pubB)
		dial(t, a.testRelay, "quic", v, "/", muxA)
		dial(t, b.testRelay, "quic", v, "/", muxB)

		subB := dial(t, b.testRelay, "quic", v, "/", nil)
		subA := dial(t, a.testRelay, "quic", v, "/", nil)
		wb, wa := watch(t, subB), watch(t, subA)
		annB := wb.waitActive(t, "/from-a")
		wa.waitActive(t, "/from-b")
		// moq-lite-03 carries a hop count, no IDs.
		if h := annB.Hops(); v != moqt.LiteDraft03 && (!slices.Contains(h, a.OriginID()) || !slices.Contains(h, b.OriginID())) {
			t.Errorf("hops of /from-a seen on B: %v, want A's %d and B's %d in them", h, a.OriginID(), b.OriginID())
		}

		var wg sync.WaitGroup
		for _, c := range []struct {
			sess *moqt.Session
			path moqt.BroadcastPath
			pub  *finitePublisher
		}{{subB, "/from-a", pubA}, {subA, "/from-b", pubB}} {
			tr, err := c.sess.Subscribe(context.Background(), c.path, "t", &moqt.TrackConfig{Ordered: true, MaxLatency: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { checkOnce(t, countGroups(t, tr, c.pub.attached), n) })
		}
		wg.Wait()
		if sa, sb := pubA.servedCount(), pubB.servedCount(); sa != 1 || sb != 1 {
			t.Errorf("publishers served %d and %d subscriptions, want 1 each", sa, sb)
		}
		// Each side has its own broadcast and the other's, once.
		if wa.announced("/from-a") != 1 || wa.announced("/from-b") != 1 || wb.announced("/from-a") != 1 || wb.announced("/from-b") != 1 {
			t.Errorf("announcements on A %v, on B %v; want each broadcast once", wa.count, wb.count)
		}
	})
}

// TestClusterDedup: however many subscribers B has, one subscription per
// track crosses the link to A, and A's publisher serves one.
func TestClusterDedup(t *testing.T) {
	forPeering(t, func(t *testing.T, transport string, v moqt.Version) {
		a, b := startNode(t, ""), startNode(t, "")
		b.peer(a, transport, v)
		pub := &livePublisher{frames: 5, period: 50 * time.Millisecond}
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", pub)
		dial(t, a.testRelay, "quic", v, "/", mux)

		const subs = 6
		readers := make([]*moqt.TrackReader, subs)
		for i := range subs {
			sess := dial(t, b.testRelay, "quic", v, "/", nil)
			watch(t, sess).waitActive(t, "/live")
			tr, err := sess.Subscribe(context.Background(), "/live", "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			readers[i] = tr
		}
		var wg sync.WaitGroup
		for _, tr := range readers {
			wg.Go(func() { readFrames(t, tr, 10) })
		}
		wg.Wait()
		if got := b.Stats().Upstreams; got != 1 {
			t.Errorf("B holds %d upstream subscriptions for %d subscribers, want 1", got, subs)
		}
		if got := a.Stats().Subscribers; got != 1 {
			t.Errorf("A serves %d subscriptions over the link, want 1", got)
		}
		if got := a.Stats().Upstreams; got != 1 {
			t.Errorf("A holds %d upstream subscriptions, want 1", got)
		}
		if got := pub.served.Load(); got != 1 {
			t.Errorf("publisher served %d subscriptions, want 1", got)
		}
		for _, tr := range readers {
			tr.Close()
		}
	})
}

// TestClusterTriangle: A dials B, B dials C, C dials A. A broadcast
// published on A is announced once on every relay, by its shortest route,
// with a hop list that names no relay twice; it never comes back to A;
// when it ends it is gone everywhere (no route keeps it alive through
// the ring), on moq-lite-04 and 05, whose hop lists carry IDs.
func TestClusterTriangle(t *testing.T) {
	forPeering(t, func(t *testing.T, transport string, v moqt.Version) {
		a, b, c := startNode(t, ""), startNode(t, ""), startNode(t, "")
		nodes := []*node{a, b, c}
		ws := make([]*watcher, 3)
		for i, n := range nodes {
			ws[i] = watch(t, dial(t, n.testRelay, "quic", v, "/", nil))
		}
		ctx, unpublish := context.WithCancel(context.Background())
		defer unpublish()
		mux := moqt.NewTrackMux()
		mux.Publish(ctx, "/live", &livePublisher{frames: 2, period: 50 * time.Millisecond})
		dial(t, a.testRelay, "quic", v, "/", mux)
		ws[0].waitActive(t, "/live")

		// The links one at a time, so that the shortest route to each
		// relay is the first it hears of: C-A, then A-B, then B-C closes
		// the ring and brings only longer routes.
		c.peer(a, transport, v)
		ws[2].waitActive(t, "/live")
		a.peer(b, transport, v)
		ws[1].waitActive(t, "/live")
		b.peer(c, transport, v)

		// A broadcast from each relay reaching every relay shows that the
		// ring is up and that what was sent before it went round.
		barrier := func(round string) {
			for i, n := range nodes {
				m := moqt.NewTrackMux()
				mctx, end := context.WithCancel(context.Background())
				t.Cleanup(end)
				p := moqt.BroadcastPath(fmt.Sprintf("/mark-%s-%d", round, i))
				m.Publish(mctx, p, &livePublisher{frames: 1, period: time.Second})
				dial(t, n.testRelay, "quic", v, "/", m)
				for _, w := range ws {
					w.waitActive(t, p)
				}
			}
		}
		barrier("up")
		for i, w := range ws {
			if got := w.announced("/live"); got != 1 {
				t.Errorf("relay %c announced /live %d times, want once", 'A'+i, got)
			}
			hops := w.waitActive(t, "/live").Hops()
			seen := map[uint64]bool{}
			for _, h := range hops {
				if seen[h] && v != moqt.LiteDraft03 { // 03: a count, no IDs
					t.Errorf("relay %c: hop %d twice in %v", 'A'+i, h, hops)
				}
				seen[h] = true
			}
			// The publisher, A, the relay itself (and one relay between
			// A and it at most).
			if len(hops) > 3 {
				t.Errorf("relay %c: hop list %v longer than the shortest route", 'A'+i, hops)
			}
		}
		if got := a.Stats().Broadcasts; got != 1+3 {
			t.Errorf("A has %d broadcasts, want /live and 3 marks", got)
		}

		if v == moqt.LiteDraft03 {
			// Its announcements carry a hop count and no IDs: once the
			// publisher is gone, the relays' other routes to /live (each
			// through the others) go round the ring until the hop count
			// reaches the limit, so there is no event to wait for here.
			t.Log("moq-lite-03: the end of a broadcast in a ring is not checked (no hop IDs)")
			return
		}
		unpublish()
		for _, w := range ws {
			w.waitGone(t, "/live")
		}
		barrier("down")
		for i, w := range ws {
			w.waitGone(t, "/live")
			if h, ok := nodes[i].Mux().Handler("/live"); ok {
				t.Errorf("relay %c still routes /live (%T) after its end", 'A'+i, h)
			}
		}
		t.Logf("announcements refused as loops: A %d, B %d, C %d", a.Stats().LoopsRefused, b.Stats().LoopsRefused, c.Stats().LoopsRefused)
	})
}

// TestClusterRedial: B dials A; A stops and starts again on the same
// address; B dials it again by itself and the broadcast published on the
// new A is announced on B.
func TestClusterRedial(t *testing.T) {
	forPeering(t, func(t *testing.T, transport string, v moqt.Version) {
		a := startNode(t, "")
		b := startNode(t, "")
		b.peer(a, transport, v)
		wb := watch(t, dial(t, b.testRelay, "quic", v, "/", nil))

		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", &livePublisher{frames: 2, period: 50 * time.Millisecond})
		dial(t, a.testRelay, "quic", v, "/", mux)
		wb.waitActive(t, "/live")

		a.stop()
		wb.waitGone(t, "/live")
		a2 := startNode(t, a.addr)
		dial(t, a2.testRelay, "quic", v, "/", mux)
		wb.waitActive(t, "/live")
		got := wb.announced("/live")
		switch {
		case v >= moqt.LiteDraft04 && got != 2:
			t.Errorf("/live announced %d times on B, want twice (before and after A's restart)", got)
		case v < moqt.LiteDraft04 && got < 2:
			// moq-lite-03 announcements carry a hop count, not hop IDs: a
			// restart can reach B as more than one route change (seen
			// once in CI: 4), so only the two it must see are required.
			t.Errorf("/live announced %d times on B, want at least twice", got)
		}
		sess := dial(t, b.testRelay, "quic", v, "/", nil)
		tr, err := sess.Subscribe(context.Background(), "/live", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrames(t, tr, 3)
	})
}

// logRecords is a slog.Handler that sends the records whose message is
// msg to a channel.
type logRecords struct {
	msg string
	ch  chan slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- r.Clone():
		default: // the test has what it wants
		}
	}
	return nil
}
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecords) WithGroup(string) slog.Handler      { return h }

// TestPeerRetriesWithBackoff: a peer that cannot be reached is dialed
// again and again, each failure logged with its attempt and a growing
// backoff, the token never shown; Close ends the retries (leakCheck).
func TestPeerRetriesWithBackoff(t *testing.T) {
	leakCheck(t)
	h := &logRecords{msg: "relay: peer dial failed", ch: make(chan slog.Record, 4)}
	r := relay.New(relay.Options{Logger: slog.New(h)})
	// A TCP port nobody listens on: each dial is refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r.Peer("ws://"+addr+"/?jwt=secret-token", nil)
	var backoffs []time.Duration
	for attempt := int64(1); attempt <= 4; attempt++ {
		var rec slog.Record
		select {
		case rec = <-h.ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("no failure logged for attempt %d", attempt)
		}
		attrs := map[string]slog.Value{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		if got := attrs["attempt"].Int64(); got != attempt {
			t.Errorf("attempt %d logged as %d", attempt, got)
		}
		backoffs = append(backoffs, attrs["retry_in"].Duration())
		for k, v := range attrs {
			if strings.Contains(v.String(), "secret-token") {
				t.Errorf("log attribute %s shows the token: %s", k, v)
			}
		}
		if !strings.Contains(attrs["peer"].String(), addr) {
			t.Errorf("peer logged as %q", attrs["peer"])
		}
	}
	for i := 1; i < len(backoffs); i++ {
		if backoffs[i] != 2*backoffs[i-1] {
			t.Errorf("backoffs %v do not double", backoffs)
		}
	}
	// The link's state says the same, with the token hidden.
	st := r.Cluster()
	if len(st.Peers) != 1 {
		t.Fatalf("Cluster().Peers = %+v, want the one link", st.Peers)
	}
	p := st.Peers[0]
	if p.Failures < 4 || p.Attempts < 4 || p.LastError == "" || p.State == relay.PeerConnected {
		t.Errorf("link status %+v: want ≥ 4 failures and attempts, an error, not connected", p)
	}
	if strings.Contains(p.URL+p.LastError, "secret-token") || !strings.Contains(p.URL, addr) {
		t.Errorf("link status shows the token or not the peer: %+v", p)
	}
	r.Close()
}

// TestClusterStatus: B links to A; a publisher on A is watched on B. B's
// Cluster status (and /cluster, and its metrics) shows the link connected,
// with the version, an RTT on QUIC, the groups received over it and the
// one upstream subscription it carries, and the route to the broadcast.
func TestClusterStatus(t *testing.T) {
	forPeering(t, func(t *testing.T, transport string, v moqt.Version) {
		a, b := startNode(t, ""), startNode(t, "")
		b.peer(a, transport, v)
		wb := watch(t, dial(t, b.testRelay, "quic", v, "/", nil))
		p := newSteppedPublisher()
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", p)
		dial(t, a.testRelay, "quic", v, "/", mux)
		wb.waitActive(t, "/live")
		sess := dial(t, b.testRelay, "quic", v, "/", nil)
		tr, err := sess.Subscribe(context.Background(), "/live", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint64(3) {
			p.steps <- i
			readGroup(t, tr)
		}
		st := b.Cluster()
		if st.OriginID != b.OriginID() || len(st.Peers) != 1 {
			t.Fatalf("status %+v", st)
		}
		ps := st.Peers[0]
		if ps.State != relay.PeerConnected || ps.Version != v.String() || ps.Upstreams != 1 || ps.GroupsIn < 3 || ps.BytesIn < 3*6 || ps.Failures != 0 {
			t.Errorf("peer status %+v: want connected on %s, 1 upstream, ≥ 3 groups in, no failure", ps, v)
		}
		if ps.RTTMillis <= 0 {
			t.Errorf("peer status %+v: no RTT over %s", ps, transport)
		}
		if len(st.Routes) != 1 || st.Routes[0].Path != "/live" || st.Routes[0].Routes != 1 || st.Routes[0].Tracks != 1 || len(st.Routes[0].Hops) == 0 || st.Routes[0].Via != ps.Remote {
			t.Errorf("routes %+v, want /live by the link (%s), one track", st.Routes, ps.Remote)
		}
		// A's side: the link is a session it serves, not a peer of its own.
		if got := a.Cluster(); len(got.Peers) != 0 {
			t.Errorf("A reports peers %+v", got.Peers)
		}

		rec := httptest.NewRecorder()
		b.ClusterHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/cluster", nil))
		var got relay.ClusterStatus
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || len(got.Peers) != 1 || got.Peers[0].State != relay.PeerConnected {
			t.Errorf("/cluster: %d %s (%v)", rec.Code, rec.Body, err)
		}

		mfs, err := b.MetricsRegistry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"moq_relay_peer_up": 1, "moq_relay_peer_upstream_subscriptions": 1}
		for _, mf := range mfs {
			if w, ok := want[mf.GetName()]; ok {
				m := mf.GetMetric()
				if len(m) != 1 || m[0].GetGauge().GetValue() != w {
					t.Errorf("%s = %v, want %v", mf.GetName(), m, w)
				}
				delete(want, mf.GetName())
			}
		}
		if len(want) > 0 {
			t.Errorf("metrics missing: %v", want)
		}
	})
}

// TestClusterFailover: a publisher on A; B and C each link to A; D links
// to B and to C, so it has two routes of the same length and takes the
// one the tie-break picks. A viewer on D reads the track; the relay of
// D's route is stopped; the viewer's subscription carries on through the
// other, with its groups in order and none twice, and one upstream
// subscription on D.
func TestClusterFailover(t *testing.T) {
	forPeering(t, func(t *testing.T, transport string, v moqt.Version) {
		a, b, c, d := startNode(t, ""), startNode(t, ""), startNode(t, ""), startNode(t, "")
		b.peer(a, transport, v)
		c.peer(a, transport, v)
		wd := watch(t, dial(t, d.testRelay, "quic", v, "/", nil))

		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", &livePublisher{frames: 1, period: 10 * time.Millisecond})
		dial(t, a.testRelay, "quic", v, "/", mux)
		for _, n := range []*node{b, c} {
			w := watch(t, dial(t, n.testRelay, "quic", v, "/", nil))
			w.waitActive(t, "/live")
		}
		d.peer(b, transport, v)
		d.peer(c, transport, v)
		wd.waitActive(t, "/live")

		sess := dial(t, d.testRelay, "quic", v, "/", nil)
		tr, err := sess.Subscribe(context.Background(), "/live", "t", &moqt.TrackConfig{Ordered: true})
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		read := func(n int) {
			for range n {
				seq, _ := readLiveGroup(t, tr)
				seqs = append(seqs, seq)
			}
		}
		read(5)
		var via, other *node
		switch {
		case b.Stats().Upstreams > 0 && c.Stats().Upstreams == 0:
			via, other = b, c
		case c.Stats().Upstreams > 0 && b.Stats().Upstreams == 0:
			via, other = c, b
		default:
			t.Fatalf("upstream subscriptions: B %d, C %d; want one on exactly one of them", b.Stats().Upstreams, c.Stats().Upstreams)
		}
		killedAt := len(seqs)
		stopped := time.Now()
		via.stop()
		read(1)
		// Logged for the record, not asserted: the group period is 10 ms.
		t.Logf("first group after the stop of the route's relay %v after the stop began", time.Since(stopped))
		read(19)
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("group %d after group %d: out of order or twice (%v)", seqs[i], seqs[i-1], seqs)
			}
		}
		lost := 0
		for i := 1; i < len(seqs); i++ {
			lost += int(seqs[i] - seqs[i-1] - 1)
		}
		t.Logf("failover from %s: groups %v; lost %d groups (the gap at the switch: %d → %d)", map[*node]string{b: "B", c: "C"}[via], seqs, lost, seqs[killedAt-1], seqs[killedAt])
		if other.Stats().Upstreams != 1 {
			t.Errorf("the other relay has %d upstream subscriptions, want 1 (D's)", other.Stats().Upstreams)
		}
		if got := d.Stats().Upstreams; got != 1 {
			t.Errorf("D has %d upstream subscriptions after the failover, want 1", got)
		}
		if st := tr.Stats(); st.Skipped != 0 {
			t.Errorf("viewer stats %+v", st)
		}
	})
}

// readLiveGroup reads the next group of a livePublisher's track whole.
func readLiveGroup(t *testing.T, tr *moqt.TrackReader) (seq uint64, frames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gr, err := tr.AcceptGroup(ctx)
	if err != nil {
		t.Fatalf("AcceptGroup: %v", err)
	}
	for {
		_, err := gr.ReadFrame()
		if err != nil {
			return gr.GroupSequence(), frames
		}
		frames++
	}
}

// TestClusterMesh: A, B and C join a mesh (Mesh, with their moqt:// URLs);
// only B-A and C-B are configured. A and C learn of each other through B
// and the one whose URL sorts first dials the other: a broadcast on C then
// reaches A by the direct link (its hop list shrinks to the publisher and
// C), and the cluster holds three links, not four (A does not dial B, to
// which it is linked already).
func TestClusterMesh(t *testing.T) {
	// Over native QUIC links: the nodes' URLs are moqt:// ones.
	for _, v := range moqt.LiteVersions() {
		t.Run(v.String(), func(t *testing.T) {
			leakCheck(t)
			testClusterMesh(t, "quic", v)
		})
	}
}

func testClusterMesh(t *testing.T, transport string, v moqt.Version) {
	{
		nodes := []*node{startNode(t, ""), startNode(t, ""), startNode(t, "")}
		a, b, c := nodes[0], nodes[1], nodes[2]
		urlOf := func(n *node) string { return "moqt://" + n.addr + "/" }
		opts := &relay.PeerOptions{TLSConfig: &tls.Config{RootCAs: cert.Pool()}, Config: &moqt.Config{Versions: []moqt.Version{v}}}
		for _, n := range nodes {
			n.Mesh(relay.MeshOptions{Node: urlOf(n), Peer: opts})
		}
		b.peer(a, transport, v)
		c.peer(b, transport, v)

		wa := watch(t, dial(t, a.testRelay, "quic", v, "/", nil))
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", newSteppedPublisher())
		dial(t, c.testRelay, "quic", v, "/", mux)
		// The watcher sees the publisher, C and A by the direct link; B too
		// by the other.
		wa.waitFor(t, "/live on A by the direct link to C", func(w *watcher) bool {
			a := w.active["/live"]
			return a != nil && len(a.Hops()) == 3
		})
		links := 0
		for _, n := range nodes {
			for _, p := range n.Cluster().Peers {
				if p.State == relay.PeerConnected {
					links++
				}
			}
		}
		dialer, other := a, c
		if urlOf(c) < urlOf(a) {
			dialer, other = c, a
		}
		found := false
		for _, p := range dialer.Cluster().Peers {
			found = found || strings.Contains(p.URL, other.addr)
		}
		for i, n := range nodes {
			for _, p := range n.Cluster().Peers {
				t.Logf("node %c (%s) links to %s: %s", 'A'+i, urlOf(n), p.URL, p.State)
			}
		}
		if !found || links != 3 {
			t.Errorf("links connected: %d, want 3; the node with the smaller URL (%s) dialed the other: %v", links, urlOf(dialer), found)
		}
	}
}
