package moqt_test

import (
	"context"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// TrackWriter.Stats counts the frames and payload bytes written, and
// splits its drops by reason.
func TestTrackWriterStatsCountsFramesAndDrops(t *testing.T) {
	for _, v := range moqt.SupportedVersions() {
		t.Run(v.String(), func(t *testing.T) { countFrames(t, v) })
	}

	// A stalled subscriber loses groups: each drop has one reason.
	t.Run("drops", countDrops)
}

// countFrames checks the frames and bytes counted for a subscriber that
// reads every group.
func countFrames(t *testing.T, v moqt.Version) {
	leakCheck(t)
	const groups, frames = 5, 4
	stats := make(chan moqt.TrackWriterStats, 1)
	mux := moqt.NewTrackMux()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
		if err := writeGroups(tw, groups, frames); err != nil {
			t.Error(err)
		}
		tw.Close()
		<-tw.Context().Done()
		stats <- tw.Stats()
	})
	srv := startServer(t, acceptInto(mux, nil), nil)
	sess, err := newClient(t, v).Dial(context.Background(), srv.url("quic", "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sess.Subscribe(context.Background(), "/b", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	readGroups(t, tr, v, groups, frames)
	bytes := 0
	for g := range groups {
		for f := range frames {
			bytes += len(payload("t", g, f))
		}
	}
	want := moqt.TrackWriterStats{Groups: groups, Sent: groups, Frames: groups * frames, Bytes: uint64(bytes)}
	if got := <-stats; got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}

// countDrops stalls a subscriber and checks that its drops, each counted
// under one reason, add up.
func countDrops(t *testing.T) {
	leakCheck(t)
	const n = 200
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
	sess, err := newClient(t, moqt.LiteDraft05).Dial(context.Background(), srv.url("quic", "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-written // stalled until every group was handed to the publisher
	readAll(t, tr)
	st := <-stats
	t.Logf("%+v", st)
	if st.Dropped == 0 {
		t.Fatalf("a subscriber stalled for %d groups lost none: %+v", n, st)
	}
	if st.TooFarBehind+st.OverBudget+st.NeverReceived != st.Dropped {
		t.Fatalf("drops by reason do not add up to Dropped: %+v", st)
	}
	if st.Sent+st.Dropped < n {
		t.Fatalf("%d sent + %d dropped < %d published", st.Sent, st.Dropped, n)
	}
}
