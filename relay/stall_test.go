package relay_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/relay"
)

// A subscriber that stops reading falls behind alone: the healthy
// subscriber next to it keeps receiving everything at low latency, and the
// stalled one loses its old groups instead of the live edge.
func TestStalledSubscriberAlone(t *testing.T) {
	for _, v := range []moqt.Version{moqt.LiteDraft03, moqt.LiteDraft05} {
		t.Run(v.String(), func(t *testing.T) {
			r := startRelay(t, relay.Options{})
			// 10 groups/s of 10 frames of 4 KB: 400 KB/s.
			pub := &bigPublisher{frames: 10, size: 4000, period: 100 * time.Millisecond}
			mux := moqt.NewTrackMux()
			mux.Publish(context.Background(), "/live", pub)
			dial(t, r, "quic", v, "/", mux)

			healthy := dial(t, r, "quic", v, "/", nil)
			waitAnnounce(t, healthy, "/", "/live")
			stalled := dialStalled(t, r, v)
			trStalled, err := stalled.Subscribe(context.Background(), "/live", "t", &moqt.TrackConfig{MaxLatency: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			trHealthy, err := healthy.Subscribe(context.Background(), "/live", "t", nil)
			if err != nil {
				t.Fatal(err)
			}

			// The healthy subscriber reads 20 groups (2 s of traffic) while
			// the other reads nothing: it gets each of them whole, in
			// sequence, with nothing dropped. (Its latency is logged, not
			// asserted: speed belongs in benchmarks.)
			const want = 20
			var latencies []time.Duration
			var seqs []uint64
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard only
			defer cancel()
			for len(seqs) < want {
				gr, err := trHealthy.AcceptGroup(ctx)
				if err != nil {
					t.Fatalf("healthy subscriber after %d groups: %v", len(seqs), err)
				}
				n := 0
				for {
					f, err := gr.ReadFrame()
					if err != nil {
						if err != io.EOF {
							t.Fatalf("healthy subscriber: group %d: %v", gr.GroupSequence(), err)
						}
						break
					}
					var seq, idx, sent int64
					fmt.Sscanf(string(f.Payload), "%d:%d:%d:", &seq, &idx, &sent)
					latencies = append(latencies, time.Since(time.UnixMicro(sent)))
					n++
				}
				if n != pub.frames {
					t.Fatalf("healthy subscriber: group %d had %d frames, want %d", gr.GroupSequence(), n, pub.frames)
				}
				seqs = append(seqs, gr.GroupSequence())
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] != seqs[i-1]+1 {
					t.Fatalf("healthy subscriber: groups %v are not consecutive", seqs)
				}
			}
			if st := trHealthy.Stats(); st.Dropped != 0 {
				t.Fatalf("healthy subscriber: %d groups dropped next to a stalled one", st.Dropped)
			}
			slices.Sort(latencies)
			t.Logf("healthy: groups %d..%d, p50 %v, p99 %v", seqs[0], seqs[len(seqs)-1], latencies[len(latencies)/2], latencies[len(latencies)*99/100])

			// Now the stalled subscriber reads what it has: old groups were
			// dropped, and it reaches the live edge: a complete group the
			// publisher started after the stall.
			target := pub.next.Load()
			var complete []uint64
			dropped := 0
			for len(complete) == 0 || slices.Max(complete) < target {
				gr, err := trStalled.AcceptGroup(ctx)
				if err != nil {
					t.Fatalf("stalled subscriber never reached group %d (complete %v, %d reset): %v", target, complete, dropped, err)
				}
				var gerr error
				for {
					if _, gerr = gr.ReadFrame(); gerr != nil {
						break
					}
				}
				var ge *moqt.GroupError
				switch {
				case gerr == io.EOF:
					complete = append(complete, gr.GroupSequence())
				case errors.As(gerr, &ge):
					dropped++
				default:
					t.Fatalf("stalled subscriber: %v", gerr)
				}
			}
			st := trStalled.Stats()
			t.Logf("stalled: %d complete groups %v, %d reset, stats %+v; live edge at the stall's end: group %d", len(complete), complete, dropped, st, target)
			if dropped == 0 && st.Dropped == 0 && complete[0] == seqs[0] && len(complete) >= int(target-seqs[0]) {
				t.Fatal("the stalled subscriber lost nothing: it was not behind")
			}
		})
	}
}

// dialStalled dials r over native QUIC with small receive windows, so that
// the relay is blocked by the session within a few frames when it reads
// nothing.
func dialStalled(t *testing.T, r *testRelay, v moqt.Version) *moqt.Session {
	t.Helper()
	sc := &moqt.Client{
		TLSConfig: &tls.Config{RootCAs: cert.Pool()},
		QUICConfig: &quic.Config{
			InitialStreamReceiveWindow:     16 << 10,
			MaxStreamReceiveWindow:         16 << 10,
			InitialConnectionReceiveWindow: 64 << 10,
			MaxConnectionReceiveWindow:     64 << 10,
		},
		Config: &moqt.Config{Versions: []moqt.Version{v}},
	}
	t.Cleanup(func() { sc.Close() })
	sess, err := sc.Dial(context.Background(), "moqt://"+r.addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// bigPublisher is a livePublisher with padded frames. Once stop is set it
// ends the track after the group it is writing.
type bigPublisher struct {
	frames int
	size   int
	period time.Duration
	next   atomic.Uint64
	stop   atomic.Bool
}

func (p *bigPublisher) ServeTrack(tw *moqt.TrackWriter) {
	tick := time.NewTicker(p.period / time.Duration(p.frames))
	defer tick.Stop()
	for {
		seq := p.next.Add(1) - 1
		gw, err := tw.OpenGroup(context.Background(), seq)
		if err != nil {
			return
		}
		for f := range p.frames {
			b := fmt.Appendf(nil, "%d:%d:%d:", seq, f, time.Now().UnixMicro())
			b = append(b, make([]byte, p.size-len(b))...)
			if err := gw.WriteFrame(context.Background(), &moqt.Frame{Payload: b}); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-tw.Context().Done():
				return
			}
		}
		gw.Close()
		if p.stop.Load() {
			tw.Close()
			return
		}
	}
}

// TestStalledSubscriberDrainsToEnd: on moq-lite-05, a subscriber that
// stalls next to a healthy one, then reads everything to the track's end,
// accounts for every group published after it subscribed exactly once:
// received whole, reset (aborted by the relay's latency bound), or
// reported dropped; and the healthy one gets every group whole.
func TestStalledSubscriberDrainsToEnd(t *testing.T) {
	r := startRelay(t, relay.Options{})
	pub := &bigPublisher{frames: 10, size: 4000, period: 100 * time.Millisecond}
	mux := moqt.NewTrackMux()
	mux.Publish(context.Background(), "/live", pub)
	v := moqt.LiteDraft05
	dial(t, r, "quic", v, "/", mux)
	healthy := dial(t, r, "quic", v, "/", nil)
	waitAnnounce(t, healthy, "/", "/live")
	stalled := dialStalled(t, r, v)
	trStalled, err := stalled.Subscribe(context.Background(), "/live", "t", &moqt.TrackConfig{MaxLatency: 300 * time.Millisecond, Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	trHealthy, err := healthy.Subscribe(context.Background(), "/live", "t", &moqt.TrackConfig{Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard only
	defer cancel()

	// read drains tr to its end: the sequences received whole and those
	// whose stream was reset.
	read := func(tr *moqt.TrackReader, onGroup func(n int)) (whole, reset []uint64) {
		for {
			gr, err := tr.AcceptGroup(ctx)
			if errors.Is(err, io.EOF) {
				return whole, reset
			}
			if err != nil {
				t.Fatalf("after %d groups: %v", len(whole)+len(reset), err)
			}
			var gerr error
			for {
				if _, gerr = gr.ReadFrame(); gerr != nil {
					break
				}
			}
			var ge *moqt.GroupError
			switch {
			case gerr == io.EOF:
				whole = append(whole, gr.GroupSequence())
			case errors.As(gerr, &ge):
				reset = append(reset, gr.GroupSequence())
			default:
				t.Fatalf("group %d: %v", gr.GroupSequence(), gerr)
			}
			if onGroup != nil {
				onGroup(len(whole) + len(reset))
			}
		}
	}
	// The healthy subscriber reads 20 groups while the other stalls; then
	// the publisher ends the track, and both read to its end.
	hWhole, hReset := read(trHealthy, func(n int) {
		if n == 20 {
			pub.stop.Store(true)
		}
	})
	published := pub.next.Load()
	sWhole, sReset := read(trStalled, nil)
	st := trStalled.Stats()
	t.Logf("published %d; healthy: %d whole, %d reset; stalled: %d whole, %d reset, stats %+v", published, len(hWhole), len(hReset), len(sWhole), len(sReset), st)

	if len(hReset) != 0 || len(hWhole) != int(published-hWhole[0]) {
		t.Errorf("healthy subscriber: %d whole from group %d and %d reset, of %d published", len(hWhole), hWhole[0], len(hReset), published)
	}
	all := append(slices.Clone(sWhole), sReset...)
	slices.Sort(all)
	if n := len(all); n != len(slices.Compact(slices.Clone(all))) {
		t.Errorf("stalled subscriber got a group twice: %v", all)
	}
	first := all[0]
	if got := uint64(len(all)) + st.Dropped + st.Skipped; got != published-first {
		t.Errorf("stalled subscriber: %d whole + %d reset + %d dropped + %d skipped = %d, want the %d groups from %d to %d", len(sWhole), len(sReset), st.Dropped, st.Skipped, got, published-first, first, published-1)
	}
	if st.Dropped+uint64(len(sReset)) == 0 {
		t.Error("the stalled subscriber lost nothing: it was not behind")
	}
}
