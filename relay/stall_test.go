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
			// The stalled client has small receive windows, so the relay
			// is blocked by it within a few frames.
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
			stalled, err := sc.Dial(context.Background(), "moqt://"+r.addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			trStalled, err := stalled.Subscribe(context.Background(), "/live", "t", &moqt.TrackConfig{MaxLatency: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			trHealthy, err := healthy.Subscribe(context.Background(), "/live", "t", nil)
			if err != nil {
				t.Fatal(err)
			}

			// The healthy subscriber reads 3 s of traffic.
			var latencies []time.Duration
			frames := 0
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			for ctx.Err() == nil {
				gr, err := trHealthy.AcceptGroup(ctx)
				if err != nil {
					break
				}
				for {
					f, err := gr.ReadFrame()
					if err != nil {
						if err != io.EOF {
							t.Fatalf("healthy subscriber: %v", err)
						}
						break
					}
					var seq, idx, sent int64
					fmt.Sscanf(string(f.Payload), "%d:%d:%d:", &seq, &idx, &sent)
					latencies = append(latencies, time.Since(time.UnixMicro(sent)))
					frames++
				}
			}
			slices.Sort(latencies)
			p99 := latencies[len(latencies)*99/100]
			t.Logf("healthy: %d frames, p50 %v, p99 %v", frames, latencies[len(latencies)/2], p99)
			if frames < 200 {
				t.Fatalf("healthy subscriber got %d frames in 3 s, want about 300", frames)
			}
			if p99 > 100*time.Millisecond {
				t.Fatalf("healthy subscriber p99 latency %v next to a stalled one", p99)
			}

			// Now the stalled subscriber reads what it has: old groups were
			// dropped, and it reaches the live edge.
			var complete []uint64
			dropped := 0
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer rcancel()
			for rctx.Err() == nil {
				gr, err := trStalled.AcceptGroup(rctx)
				if err != nil {
					break
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
			latest := pub.next.Load()
			t.Logf("stalled: %d complete groups %v, %d reset; publisher at group %d", len(complete), complete, dropped, latest)
			if dropped == 0 && len(complete) > 0 && complete[0] == 0 && len(complete) >= int(latest)-2 {
				t.Fatal("the stalled subscriber lost nothing: it was not behind")
			}
			if len(complete) == 0 || slices.Max(complete)+5 < latest {
				t.Fatalf("stalled subscriber did not reach the live edge (latest complete %v, publisher at %d)", complete, latest)
			}
		})
	}
}

// bigPublisher is a livePublisher with padded frames.
type bigPublisher struct {
	frames int
	size   int
	period time.Duration
	next   atomic.Uint64
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
	}
}
