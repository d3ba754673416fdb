package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// steppedPublisher serves track "t": it writes group seq (two frames,
// "seq:0" and "seq:1") for each seq sent on steps, and ends the track when
// steps is closed.
type steppedPublisher struct {
	steps  chan uint64
	served atomic.Int64
}

func newSteppedPublisher() *steppedPublisher {
	return &steppedPublisher{steps: make(chan uint64, 64)}
}

func (p *steppedPublisher) ServeTrack(tw *moqt.TrackWriter) {
	p.served.Add(1)
	for {
		select {
		case seq, ok := <-p.steps:
			if !ok {
				tw.Close()
				return
			}
			gw, err := tw.OpenGroup(tw.Context(), seq)
			if err != nil {
				return
			}
			for f := range 2 {
				gw.WriteFrame(tw.Context(), moqt.NewFrame(fmt.Appendf(nil, "%d:%d", seq, f)))
			}
			gw.Close()
		case <-tw.Context().Done():
			return
		}
	}
}

// readGroup reads the next group of tr whole and returns its sequence and
// the group number its frames carry (its publisher's).
func readGroup(t *testing.T, tr *moqt.TrackReader) (seq, published uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gr, err := tr.AcceptGroup(ctx)
	if err != nil {
		t.Fatalf("AcceptGroup: %v", err)
	}
	for f := 0; ; f++ {
		fr, err := gr.ReadFrame()
		if err == io.EOF {
			if f != 2 {
				t.Fatalf("group %d ended after %d frames, want 2", gr.GroupSequence(), f)
			}
			return gr.GroupSequence(), published
		}
		if err != nil {
			t.Fatalf("group %d: ReadFrame: %v", gr.GroupSequence(), err)
		}
		var s, i uint64
		if _, err := fmt.Sscanf(string(fr.Payload), "%d:%d", &s, &i); err != nil || int(i) != f {
			t.Fatalf("group %d: frame %q at index %d", gr.GroupSequence(), fr.Payload, f)
		}
		published = s
	}
}

// TestBroadcastLingerResume: the publisher's session dies; within the
// linger a new publisher session announces the same broadcast; the
// subscriber's subscription carries on and gets every group of both,
// exactly once and in order. A publisher that continues its numbering
// (moq pub numbers from the clock) is relayed as is; one that starts again
// at 0 is renumbered to follow on.
func TestBroadcastLingerResume(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "continues"
		if restart {
			name = "restarts-at-0"
		}
		t.Run(name, func(t *testing.T) {
			forEach(t, func(t *testing.T, transport string, v moqt.Version) {
				r := startRelay(t, relay.Options{BroadcastLinger: time.Hour})
				p1 := newSteppedPublisher()
				mux1 := moqt.NewTrackMux()
				mux1.Publish(context.Background(), "/live", p1)
				pub1 := dial(t, r, transport, v, "/", mux1)

				sub := dial(t, r, transport, v, "/", nil)
				ann := waitAnnounce(t, sub, "/", "/live")
				tr, err := sub.Subscribe(context.Background(), "/live", "t", &moqt.TrackConfig{Ordered: true})
				if err != nil {
					t.Fatal(err)
				}
				for i := range uint64(5) {
					p1.steps <- i
					if seq, _ := readGroup(t, tr); seq != i {
						t.Fatalf("got group %d, want %d", seq, i)
					}
				}
				pub1.Terminate(moqt.InternalSessionError, "lost")
				<-pub1.Context().Done()

				p2 := newSteppedPublisher()
				mux2 := moqt.NewTrackMux()
				mux2.Publish(context.Background(), "/live", p2)
				dial(t, r, transport, v, "/", mux2)
				first := uint64(5)
				if restart {
					first = 0
				}
				// One group at a time, as before the loss: moq-lite-03/04
				// over WebTransport do not keep groups in order.
				for i := uint64(5); i < 10; i++ {
					p2.steps <- first + i - 5
					seq, published := readGroup(t, tr)
					if seq != i || published != first+i-5 {
						t.Fatalf("got group %d (published as %d), want %d (published as %d)", seq, published, i, first+i-5)
					}
				}
				close(p2.steps)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if gr, err := tr.AcceptGroup(ctx); !errors.Is(err, io.EOF) {
					t.Fatalf("after the last group: %v, %v; want the track's end", gr, err)
				}
				if p2.served.Load() != 1 {
					t.Errorf("the new publisher served %d subscriptions, want 1", p2.served.Load())
				}
				if st := tr.Stats(); st.Dropped != 0 || st.Skipped != 0 {
					t.Errorf("subscriber stats %+v: nothing should be lost", st)
				}
				// The subscription carried on; the announcement may have
				// been renewed (the new publisher's hop list differs), but
				// the broadcast was announced throughout: it is now.
				_ = ann
				if _, ok := r.Mux().Handler("/live"); !ok {
					t.Error("/live not published after the resume")
				}
			})
		})
	}
}

// TestBroadcastLingerExpires: a broadcast whose publisher's session died
// ends once the linger passed with no publisher back: its announcement
// ends and its subscribers' track ends with an error.
func TestBroadcastLingerExpires(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{BroadcastLinger: 50 * time.Millisecond})
		p := newSteppedPublisher()
		mux := moqt.NewTrackMux()
		mux.Publish(context.Background(), "/live", p)
		pub := dial(t, r, transport, v, "/", mux)
		sub := dial(t, r, transport, v, "/", nil)
		ann := waitAnnounce(t, sub, "/", "/live")
		tr, err := sub.Subscribe(context.Background(), "/live", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		p.steps <- 0
		readGroup(t, tr)
		pub.Terminate(moqt.InternalSessionError, "lost")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		select {
		case <-ann.Done():
		case <-ctx.Done():
			t.Fatal("broadcast still announced long after the linger")
		}
		gr, err := tr.AcceptGroup(ctx)
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("track after the linger: %v, %v; want an error ending it", gr, err)
		}
	})
}

// TestBroadcastCleanEndIsImmediate: a publisher that ends its broadcast
// (its session alive) or closes its session cleanly ends it at once,
// however long the linger.
func TestBroadcastCleanEndIsImmediate(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{BroadcastLinger: time.Hour})
		sub := dial(t, r, transport, v, "/", nil)
		w := watch(t, sub)

		ctx, unpublish := context.WithCancel(context.Background())
		mux := moqt.NewTrackMux()
		mux.Publish(ctx, "/a", newSteppedPublisher())
		mux.Publish(context.Background(), "/b", newSteppedPublisher())
		pub := dial(t, r, transport, v, "/", mux)
		w.waitActive(t, "/a")
		w.waitActive(t, "/b")
		unpublish()
		w.waitGone(t, "/a")
		pub.Terminate(moqt.NoError, "bye")
		w.waitGone(t, "/b")
	})
}
