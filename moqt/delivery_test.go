package moqt_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomoq/gomoq/internal/quictest"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
	"go.uber.org/goleak"
)

// leakCheck registers, as the test's last cleanup, a check that every
// goroutine started during the test (the server's, the clients', quic-go's)
// is gone once they are closed.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// orderGuaranteed reports whether a session of this kind hands an ordered
// subscription's groups over in sequence order: always on moq-lite-05
// (SUBSCRIBE_START/DROP accounting), and on native QUIC for 03/04 (streams
// are passed on in the order the peer opened them). webtransport-go hands
// streams over from goroutines of its own once their headers are parsed,
// and 03/04 have no accounting to wait on.
func orderGuaranteed(transport string, v moqt.Version) bool {
	return v >= moqt.LiteDraft05 || transport == "quic"
}

// publishGroups serves /b track t: each subscription gets groups 0..n-1 of
// one frame each ("seq"), written as fast as possible, then the end.
func publishGroups(t *testing.T, ctx context.Context, n int, stats chan<- moqt.TrackWriterStats) *moqt.TrackMux {
	mux := moqt.NewTrackMux()
	mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
		for seq := range n {
			gw, err := tw.OpenGroup(ctx, uint64(seq))
			if err != nil {
				t.Errorf("OpenGroup(%d): %v", seq, err)
				return
			}
			gw.WriteFrame(ctx, moqt.NewFrame(fmt.Appendf(nil, "%d", seq)))
			gw.Close()
		}
		tw.Close()
		if stats != nil {
			// Stats are final once the session has sent the end.
			<-tw.Context().Done()
			stats <- tw.Stats()
		}
	})
	return mux
}

// readAll reads a track to its end and returns the group sequences in the
// order AcceptGroup gave them, checking each group's one frame.
func readAll(t *testing.T, tr *moqt.TrackReader) []uint64 {
	t.Helper()
	var seqs []uint64
	for {
		gr, err := tr.AcceptGroup(context.Background())
		if errors.Is(err, io.EOF) {
			return seqs
		}
		if err != nil {
			t.Fatalf("AcceptGroup after %d groups: %v", len(seqs), err)
		}
		seqs = append(seqs, gr.GroupSequence())
		for {
			f, err := gr.ReadFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var ge *moqt.GroupError
				if errors.As(err, &ge) {
					break // a group reset by the publisher still counts as received
				}
				t.Fatalf("group %d: %v", gr.GroupSequence(), err)
			}
			if want := fmt.Sprint(gr.GroupSequence()); string(f.Payload) != want && len(f.Payload) < 100 {
				t.Fatalf("group %d: frame %q", gr.GroupSequence(), f.Payload)
			}
		}
	}
}

// drain reads a group to its end (or its reset).
func drain(gr *moqt.GroupReader) {
	for {
		if _, err := gr.ReadFrame(); err != nil {
			return
		}
	}
}

// checkOnce checks that seqs holds every sequence of want exactly once,
// and if ordered, in increasing order.
func checkOnce(t *testing.T, who string, seqs []uint64, want map[uint64]bool, ordered bool) {
	t.Helper()
	seen := map[uint64]bool{}
	for i, s := range seqs {
		if seen[s] {
			t.Fatalf("%s: group %d twice", who, s)
		}
		if !want[s] {
			t.Fatalf("%s: unexpected group %d", who, s)
		}
		seen[s] = true
		if ordered && i > 0 && s < seqs[i-1] {
			t.Fatalf("%s: group %d after group %d (ordered subscription)", who, s, seqs[i-1])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%s: %d groups, want %d", who, len(seen), len(want))
	}
}

// TestBurstEveryGroupOnce publishes 2000 one-frame groups as fast as
// possible to three subscribers: each gets every group exactly once, in
// order, and nothing is dropped.
func TestBurstEveryGroupOnce(t *testing.T) {
	const n = 2000
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stats := make(chan moqt.TrackWriterStats, 3)
		srv := startServer(t, acceptInto(publishGroups(t, ctx, n, stats), nil), nil)
		want := map[uint64]bool{}
		for i := range n {
			want[uint64(i)] = true
		}
		var wg sync.WaitGroup
		for i := range 3 {
			sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			// The latency bound is far above what the burst takes even
			// under the race detector: nothing may be dropped.
			tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				seqs := readAll(t, tr)
				checkOnce(t, fmt.Sprintf("subscriber %d", i), seqs, want, orderGuaranteed(transport, v))
				if st := tr.Stats(); st.Received != n || st.Dropped != 0 || st.Late != 0 {
					t.Errorf("subscriber %d: stats %+v, want %d received and nothing dropped", i, st, n)
				}
			})
		}
		wg.Wait()
		for range 3 {
			st := <-stats
			if st.Groups != n || st.Sent != n || st.Dropped != 0 {
				t.Errorf("publisher stats %+v, want %d groups sent", st, n)
			}
		}
	})
}

// TestStalledSubscriberAccounted stalls a subscriber (it reads nothing)
// while groups of 64 KiB are published, then lets it read: its session
// survives, it ends with the last group, and received + dropped equals
// published on moq-lite-05 (the publisher's count says so on every version).
func TestStalledSubscriberAccounted(t *testing.T) {
	const n = 300
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		written := make(chan struct{})
		stats := make(chan moqt.TrackWriterStats, 1)
		mux := moqt.NewTrackMux()
		mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
			tick := time.NewTicker(time.Millisecond) // the traffic's pace, not synchronisation
			defer tick.Stop()
			for seq := range n {
				gw, err := tw.OpenGroup(ctx, uint64(seq))
				if err != nil {
					t.Errorf("OpenGroup(%d): %v", seq, err)
					return
				}
				gw.WriteFrame(ctx, moqt.NewFrame(make([]byte, 32<<10)))
				gw.WriteFrame(ctx, moqt.NewFrame(make([]byte, 32<<10)))
				gw.Close()
				<-tick.C
			}
			close(written)
			tw.Close()
			<-tw.Context().Done()
			stats <- tw.Stats()
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		<-written // stalled until every group was handed to the publisher
		seqs := readAll(t, tr)
		if sess.Context().Err() != nil {
			t.Fatalf("the stalled subscriber's session ended: %v", context.Cause(sess.Context()))
		}
		if len(seqs) == 0 || seqs[len(seqs)-1] != n-1 && orderGuaranteed(transport, v) {
			t.Fatalf("the stalled subscriber did not end at the live edge: last groups %v", seqs[max(0, len(seqs)-3):])
		}
		got := map[uint64]bool{}
		for _, s := range seqs {
			if got[s] {
				t.Fatalf("group %d twice", s)
			}
			got[s] = true
		}
		pub := <-stats
		rs := tr.Stats()
		t.Logf("received %d, dropped %d (publisher: sent %d, dropped %d)", rs.Received, rs.Dropped, pub.Sent, pub.Dropped)
		if pub.Groups != n {
			t.Fatalf("publisher counted %d groups, want %d", pub.Groups, n)
		}
		if uint64(len(got))+pub.Dropped < n {
			t.Fatalf("%d received + %d dropped by the publisher < %d published", len(got), pub.Dropped, n)
		}
		if v >= moqt.LiteDraft05 && rs.Received+rs.Dropped+rs.Skipped != n {
			t.Fatalf("subscriber: %d received + %d dropped + %d skipped != %d published", rs.Received, rs.Dropped, rs.Skipped, n)
		}
	})
}

// TestGapsReportedDropped publishes groups 0, 3, 4 and 9: a moq-lite-05
// subscriber is told that 1, 2 and 5-8 were dropped (SUBSCRIBE_DROP), and the
// track ends by that accounting.
func TestGapsReportedDropped(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		for _, ordered := range []bool{true, false} {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			mux := moqt.NewTrackMux()
			mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
				for _, seq := range []uint64{0, 3, 4, 9} {
					gw, err := tw.OpenGroup(ctx, seq)
					if err != nil {
						t.Errorf("OpenGroup: %v", err)
						return
					}
					gw.WriteFrame(ctx, moqt.NewFrame(fmt.Appendf(nil, "%d", seq)))
					gw.Close()
				}
				tw.Close()
			})
			srv := startServer(t, acceptInto(mux, nil), nil)
			sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: ordered})
			if err != nil {
				t.Fatal(err)
			}
			seqs := readAll(t, tr)
			checkOnce(t, fmt.Sprintf("ordered=%v", ordered), seqs, map[uint64]bool{0: true, 3: true, 4: true, 9: true}, ordered && orderGuaranteed(transport, v))
			if st := tr.Stats(); v >= moqt.LiteDraft05 && st.Dropped != 6 {
				t.Fatalf("ordered=%v: %d groups reported dropped, want 6 (1, 2, 5-8)", ordered, st.Dropped)
			}
		}
	})
}

// TestStartEndGroup asks for groups 3..6 of 0..9: exactly those arrive, and
// the track ends after group 6.
func TestStartEndGroup(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv := startServer(t, acceptInto(publishGroupsUntilCancelled(ctx, 10), nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		start, end := uint64(3), uint64(6)
		tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true, StartGroup: &start, EndGroup: &end})
		if err != nil {
			t.Fatal(err)
		}
		seqs := readAll(t, tr)
		checkOnce(t, "subscriber", seqs, map[uint64]bool{3: true, 4: true, 5: true, 6: true}, orderGuaranteed(transport, v))
	})
}

// publishGroupsUntilCancelled writes groups 0..n-1 then keeps the track open
// until the subscription ends.
func publishGroupsUntilCancelled(ctx context.Context, n int) *moqt.TrackMux {
	mux := moqt.NewTrackMux()
	mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
		for seq := range n {
			gw, err := tw.OpenGroup(ctx, uint64(seq))
			if err != nil {
				return
			}
			gw.WriteFrame(ctx, moqt.NewFrame(fmt.Appendf(nil, "%d", seq)))
			gw.Close()
		}
		<-tw.Context().Done()
	})
	return mux
}

// TestUpdateReachesPublisher changes a subscription with Update, asking it
// to end at group 0 (already received): the publisher's TrackWriter sees the
// new config, and the track ends by it.
func TestUpdateReachesPublisher(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		seen := make(chan moqt.TrackConfig, 1)
		mux := moqt.NewTrackMux()
		mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
			gw, _ := tw.OpenGroup(ctx, 0)
			gw.WriteFrame(ctx, moqt.NewFrame([]byte("0")))
			gw.Close()
			<-tw.Context().Done() // ended by the subscriber's new EndGroup
			seen <- tw.Config()
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Priority: 1})
		if err != nil {
			t.Fatal(err)
		}
		gr, err := tr.AcceptGroup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		drain(gr)
		end := uint64(0)
		if err := tr.Update(context.Background(), &moqt.TrackConfig{Priority: 9, Ordered: true, MaxLatency: 1500 * time.Millisecond, EndGroup: &end}); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.AcceptGroup(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("AcceptGroup after the update: %v, want io.EOF", err)
		}
		c := <-seen
		if c.Priority != 9 || !c.Ordered || c.MaxLatency != 1500*time.Millisecond || c.EndGroup == nil || *c.EndGroup != 0 {
			t.Fatalf("publisher saw %+v after the update", c)
		}
	})
}

// An ordered subscriber gets the first group while it is still open and
// nothing else moves: it waits for SUBSCRIBE_START on 05, and is woken by it.
func TestOrderedFirstGroupWhileOpen(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mux := moqt.NewTrackMux()
		mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
			gw, err := tw.OpenGroup(ctx, 7)
			if err != nil {
				return
			}
			gw.WriteFrame(ctx, moqt.NewFrame([]byte("x")))
			<-tw.Context().Done()
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true})
		if err != nil {
			t.Fatal(err)
		}
		gr, err := tr.AcceptGroup(context.Background())
		if err != nil || gr.GroupSequence() != 7 {
			t.Fatalf("AcceptGroup: %v", err)
		}
		if f, err := gr.ReadFrame(); err != nil || string(f.Payload) != "x" {
			t.Fatalf("ReadFrame: %v", err)
		}
		tr.Close()
	})
}

// lossyListener wraps a native QUIC listener so that its connections lose
// the group streams lose picks: the stream is opened, what is written to it
// is swallowed and it is reset at once, so the publisher believes it sent
// the group while the subscriber never sees it and is told nothing: a peer
// that loses groups without reporting them.
type lossyListener struct {
	quic.Listener
	lose func(seq uint64) bool
}

func (l *lossyListener) Accept(ctx context.Context) (quic.Connection, error) {
	c, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return &lossyConn{Connection: c, lose: l.lose}, nil
}

type lossyConn struct {
	quic.Connection
	lose func(seq uint64) bool
}

func (c *lossyConn) OpenUniStream() (quic.SendStream, error) {
	s, err := c.Connection.OpenUniStream()
	if err != nil {
		return nil, err
	}
	return &lossyStream{SendStream: s, lose: c.lose}, nil
}

func (c *lossyConn) OpenUniStreamSync(ctx context.Context) (quic.SendStream, error) {
	s, err := c.Connection.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return &lossyStream{SendStream: s, lose: c.lose}, nil
}

type lossyStream struct {
	quic.SendStream
	lose    func(seq uint64) bool
	decided bool
	lost    bool
}

func (s *lossyStream) Write(p []byte) (int, error) {
	if !s.decided {
		s.decided = true
		r := wire.NewReader(bytes.NewReader(p), 1<<10)
		typ, err := r.ReadVarint()
		if err == nil && typ == wire.StreamGroup {
			if body, err := r.ReadMessage(); err == nil {
				var h wire.GroupHeader
				if h.Parse(body, wire.Lite05) == nil && s.lose(h.Sequence) {
					s.lost = true
					s.SendStream.CancelWrite(0)
				}
			}
		}
	}
	if s.lost {
		return len(p), nil
	}
	return s.SendStream.Write(p)
}

func (s *lossyStream) Close() error {
	if s.lost {
		return nil
	}
	return s.SendStream.Close()
}

// TestOrderedReaderSkipsUnreportedLoss: a moq-lite-05 publisher loses
// groups 3 and 6 without reporting them. The ordered subscriber waits for
// each at most its latency bound, then skips it: it gets every other group
// in order, counts the two as skipped, and the track still ends by the
// publisher's SUBSCRIBE_END.
func TestOrderedReaderSkipsUnreportedLoss(t *testing.T) {
	leakCheck(t)
	const n = 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := publishGroups(t, ctx, n, nil)
	srv := &moqt.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{testCert.TLS}},
		Logger:    testLogger(t),
	}
	srv.Handler = acceptWith(srv, mux, nil)
	tc := srv.TLSConfig.Clone()
	tc.NextProtos = srv.NextProtos(nil)
	ln, closeTransport := quictest.ListenLoopback(t, tc, srv.QUICListenConfig())
	defer closeTransport()
	done := make(chan error, 1)
	go func() {
		done <- srv.ServeQUICListener(&lossyListener{ln, func(seq uint64) bool { return seq == 3 || seq == 6 }})
	}()
	defer func() {
		srv.Close()
		<-done
	}()
	sess, err := newClient(t, moqt.LiteDraft05).Dial(context.Background(), "moqt://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	seqs := readAll(t, tr)
	checkOnce(t, "subscriber", seqs, map[uint64]bool{0: true, 1: true, 2: true, 4: true, 5: true, 7: true, 8: true, 9: true}, true)
	if st := tr.Stats(); st.Received != n-2 || st.Skipped != 2 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want %d received and 2 skipped", st, n-2)
	}
	sess.Terminate(moqt.NoError, "")
}

// TestPriorityHolds: one session subscribes to track lo (priority 1), then
// to track hi (priority 2), each one 4 MiB group, with 256 KiB stream
// windows, and reads neither until both are under way; then reads both at
// once. The publisher hands lo's data to the transport only while hi has
// none to hand over, so by the time hi was read to its end, lo got at most
// what was in flight: its window and a chunk, twice (before hi started, and
// after hi's last chunk left). Without the scheduler quic-go's round robin
// gives lo about half of the connection meanwhile.
func TestPriorityHolds(t *testing.T) {
	const (
		window = 256 << 10
		frame  = 16 << 10
		size   = 4 << 20
	)
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mux := moqt.NewTrackMux()
		// hiWritten is closed once hi's group holds all its frames. Until
		// then hi's writer may catch up with the handler and, having
		// nothing to send, let lo go (as it should): lo's share would then
		// depend on how fast this goroutine runs, not on the scheduler.
		hiWritten := make(chan struct{})
		mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
			gw, err := tw.OpenGroup(ctx, 0)
			if err != nil {
				return
			}
			for range size / frame {
				gw.WriteFrame(ctx, moqt.NewFrame(make([]byte, frame)))
			}
			gw.Close()
			if tw.TrackName() == "hi" {
				close(hiWritten)
			}
			<-tw.Context().Done()
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		c := newClient(t, v)
		c.QUICConfig = &quic.Config{InitialStreamReceiveWindow: window, MaxStreamReceiveWindow: window}
		sess, err := c.Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		first := func(name string, prio uint8) *moqt.GroupReader {
			tr, err := sess.Subscribe(context.Background(), "/b", moqt.TrackName(name), &moqt.TrackConfig{Priority: prio})
			if err != nil {
				t.Fatal(err)
			}
			gr, err := tr.AcceptGroup(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// Its first frame arrived: its writer has data under way.
			if _, err := gr.ReadFrame(); err != nil {
				t.Fatal(err)
			}
			return gr
		}
		lo := first("lo", 1)
		hi := first("hi", 2)
		// Neither is read meanwhile, so lo cannot get more than its
		// window ahead; from here on hi always has data to send.
		<-hiWritten
		var loBytes atomic.Int64
		loDone := make(chan error, 1)
		go func() {
			for {
				f, err := lo.ReadFrame()
				if err != nil {
					if errors.Is(err, io.EOF) {
						err = nil
					}
					loDone <- err
					return
				}
				loBytes.Add(int64(len(f.Payload)))
			}
		}()
		// Until hi has read up to mark, hi's writer still has bytes it has
		// not handed to the transport (its stream window, the transport's
		// send buffer and one chunk are all that can be ahead of the
		// reader), so it holds lo back. Past mark it may have handed over
		// its last bytes and let lo go while they drain: that is correct,
		// and how much lo then gets depends on scheduling.
		const sendBuffer = 64 << 10 // QMux's per-stream send buffer; more than quic-go keeps
		mark := size - window - sendBuffer - 2*frame
		hiBytes := frame
		loAtMark := int64(-1)
		for {
			f, err := hi.ReadFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if hiBytes < mark && hiBytes+len(f.Payload) >= mark {
				loAtMark = loBytes.Load()
			}
			hiBytes += len(f.Payload)
		}
		if err := <-loDone; err != nil {
			t.Fatal(err)
		}
		if hiBytes != size || loBytes.Load()+frame != size {
			t.Fatalf("hi %d bytes, lo %d, want %d each", hiBytes, loBytes.Load()+frame, size)
		}
		t.Logf("lo had %d KiB when hi had %d KiB", loAtMark>>10, mark>>10)
		// Before hi started lo could fill its window and the transport's
		// buffer; once read, those let through the chunk lo's writer had
		// under way and the frame around it.
		limit := int64(window + 4*frame)
		if transport == "websocket" {
			limit += sendBuffer
		}
		if loAtMark > limit {
			t.Fatalf("lo got %d KiB while hi (higher priority) had data, want at most %d KiB", loAtMark>>10, limit>>10)
		}
	})
}
