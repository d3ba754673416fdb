package relay_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// readSeqs reads a track to its end: the group sequences in the order
// AcceptGroup gave them.
func readSeqs(t *testing.T, tr *moqt.TrackReader) []uint64 {
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
		drainGroup(gr)
	}
}

// drainGroup reads a group to its end (or its reset).
func drainGroup(gr *moqt.GroupReader) {
	for {
		if _, err := gr.ReadFrame(); err != nil {
			return
		}
	}
}

// TestCacheEvictionSparesSubscribers: with a cache of two groups, a
// subscriber that reads nothing while 300 groups go by still gets every
// one of them, in order, once it reads: eviction only concerns late
// joiners, never a subscriber a group was handed to.
func TestCacheEvictionSparesSubscribers(t *testing.T) {
	const n = 300
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{CacheGroups: 2})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		attached := make(chan struct{})
		written := make(chan struct{})
		mux := moqt.NewTrackMux()
		mux.PublishFunc(ctx, "/burst", func(tw *moqt.TrackWriter) {
			defer tw.Close()
			gw, _ := tw.OpenGroup(ctx, 0)
			gw.WriteFrame(ctx, moqt.NewFrame([]byte("0")))
			gw.Close()
			<-attached
			for seq := 1; seq < n; seq++ {
				gw, err := tw.OpenGroup(ctx, uint64(seq))
				if err != nil {
					t.Errorf("OpenGroup: %v", err)
					return
				}
				gw.WriteFrame(ctx, moqt.NewFrame(fmt.Appendf(nil, "%d", seq)))
				gw.Close()
			}
			close(written)
		})
		dial(t, r, transport, v, "/", mux)
		sub := dial(t, r, transport, v, "/", nil)
		waitAnnounce(t, sub, "/", "/burst")
		tr, err := sub.Subscribe(context.Background(), "/burst", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		// Group 0 arrived: the relay serves the subscription. Then it
		// reads nothing while the other groups go by.
		gr, err := tr.AcceptGroup(context.Background())
		if err != nil || gr.GroupSequence() != 0 {
			t.Fatalf("first group: %v", err)
		}
		drainGroup(gr)
		close(attached)
		<-written
		seqs := append([]uint64{0}, readSeqs(t, tr)...)
		if len(seqs) != n {
			t.Fatalf("got %d groups, want %d", len(seqs), n)
		}
		ordered := v >= moqt.LiteDraft05 || transport == "quic"
		seen := map[uint64]bool{}
		for i, s := range seqs {
			if seen[s] {
				t.Fatalf("group %d twice", s)
			}
			seen[s] = true
			if ordered && s != uint64(i) {
				t.Fatalf("group %d at position %d", s, i)
			}
		}
	})
}

// TestFetchStreamsGroupInProgress: GET /fetch of a track whose latest group
// is still open answers at once with the frames so far, then the rest as
// they arrive, and ends with the group.
func TestFetchStreamsGroupInProgress(t *testing.T) {
	r := startRelay(t, relay.Options{})
	srv := httptest.NewServer(r.HTTPHandler("00"))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := make(chan struct{})
	mux := moqt.NewTrackMux()
	mux.PublishFunc(ctx, "/live", func(tw *moqt.TrackWriter) {
		gw, err := tw.OpenGroup(ctx, 0)
		if err != nil {
			return
		}
		gw.WriteFrame(ctx, moqt.NewFrame([]byte("first\n")))
		<-next
		gw.WriteFrame(ctx, moqt.NewFrame([]byte("second\n")))
		gw.Close()
		<-tw.Context().Done()
	})
	sess := dial(t, r, "quic", moqt.LiteDraft05, "/", mux)
	waitAnnounce(t, dial(t, r, "quic", moqt.LiteDraft05, "/", nil), "/", "/live")
	_ = sess
	rsp, err := http.Get(srv.URL + "/fetch/live/t")
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 || rsp.Header.Get("X-Moq-Group") != "0" {
		t.Fatalf("/fetch: %d, group %q", rsp.StatusCode, rsp.Header.Get("X-Moq-Group"))
	}
	br := bufio.NewReader(rsp.Body)
	if l, err := br.ReadString('\n'); err != nil || l != "first\n" {
		t.Fatalf("first chunk %q, %v", l, err)
	}
	close(next) // the second frame is written only once the first was read
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest of the group %q, %v", rest, err)
	}
}
