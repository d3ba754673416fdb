package relay_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// BenchmarkFanout forwards frames from one publisher through the relay to N
// subscribers over loopback QUIC. One op is one 1000-byte frame delivered
// to every subscriber; allocs/op include quic-go's and the receiving
// clients' (each ReadFrame allocates the frame it returns), so divide by N
// for a per-subscriber figure. The relay's own forwarding path allocates
// nothing per frame (see moqt's BenchmarkWriteFrame).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	r := startRelay(b, relay.Options{})
	frames := make(chan *moqt.Frame, 1024)
	mux := moqt.NewTrackMux()
	mux.PublishFunc(context.Background(), "/bench", func(tw *moqt.TrackWriter) {
		var gw *moqt.GroupWriter
		i := 0
		for f := range frames {
			if i%30 == 0 {
				if gw != nil {
					gw.Close()
				}
				var err error
				if gw, err = tw.OpenGroup(context.Background(), uint64(i/30)); err != nil {
					return
				}
			}
			i++
			gw.WriteFrame(context.Background(), f)
		}
		if gw != nil {
			gw.Close()
		}
	})
	dial(b, r, "quic", moqt.LiteDraft05, "/", mux)
	// Subscribe once the relay has the broadcast (else it is not found).
	ar, err := dial(b, r, "quic", moqt.LiteDraft05, "/", nil).AcceptAnnounce(context.Background(), "/")
	if err != nil {
		b.Fatal(err)
	}
	for {
		a, err := ar.ReceiveAnnouncement(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if a.BroadcastPath() == "/bench" && a.IsActive() {
			break
		}
	}
	ar.Close()
	var received atomic.Int64
	counts := make([]atomic.Int64, n)
	var wg sync.WaitGroup
	for i := range n {
		sess := dial(b, r, "quic", moqt.LiteDraft05, "/", nil)
		// From group 0 (cached): a subscription the relay joins after
		// the first groups went by still gets every frame.
		tr, err := sess.Subscribe(context.Background(), "/bench", "t", &moqt.TrackConfig{StartGroup: new(uint64)})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			var gwg sync.WaitGroup
			defer gwg.Wait()
			for {
				gr, err := tr.AcceptGroup(context.Background())
				if err != nil {
					return
				}
				gwg.Go(func() {
					for {
						if _, err := gr.ReadFrame(); err != nil {
							return
						}
						received.Add(1)
						counts[i].Add(1)
					}
				})
			}
		})
	}
	payload := make([]byte, 1000)
	b.SetBytes(int64(len(payload) * n))
	b.ReportAllocs()
	b.ResetTimer()
	// At most 256 frames in flight to any subscriber, so that none falls
	// further behind than the relay's cache and latency bound.
	slowest := func() int64 {
		m := counts[0].Load()
		for i := range counts {
			m = min(m, counts[i].Load())
		}
		return m
	}
	for i := range b.N {
		for slowest() < int64(i-256) {
			runtime.Gosched()
		}
		frames <- &moqt.Frame{Payload: payload}
	}
	for received.Load() < int64(b.N*n) {
		if b.Elapsed() > 60e9 {
			b.Fatalf("received %d of %d frames", received.Load(), b.N*n)
		}
		runtime.Gosched()
	}
	b.StopTimer()
	close(frames)
}
