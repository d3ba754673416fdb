package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gomoq/gomoq/moqt"
)

// TestInternalMetrics: the internal listener serves /health and the
// Prometheus exposition; a publisher and a subscriber over WebSocket (the
// binary's TCP port) move its counters by what they sent, and promtool
// accepts it.
func TestInternalMetrics(t *testing.T) {
	r := startRun(t, "--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0")
	if r.Internal == nil {
		t.Fatal("no internal listener")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	url := "ws://" + r.TCP.String() + "/"
	const groups, frames = 4, 3
	mux := moqt.NewTrackMux()
	written := make(chan error, 1)
	// The track stays open until the subscriber has every frame: a track
	// that ended before the relay's subscription reached it would be
	// subscribed to again (two upstream subscriptions, twice the groups).
	release := make(chan struct{})
	mux.PublishFunc(ctx, "/m", func(tw *moqt.TrackWriter) {
		var err error
		for g := range groups {
			var gw *moqt.GroupWriter
			if gw, err = tw.OpenGroup(ctx, uint64(g)); err != nil {
				break
			}
			for range frames {
				gw.WriteFrame(ctx, moqt.NewFrame([]byte("0123456789")))
			}
			gw.Close()
		}
		select {
		case <-release:
		case <-tw.Context().Done():
		}
		tw.Close()
		written <- err
	})
	pub := &moqt.Client{}
	defer pub.Close()
	if _, err := pub.Dial(ctx, url, mux); err != nil {
		t.Fatal(err)
	}
	sub := &moqt.Client{}
	defer sub.Close()
	sess, err := sub.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Version() != moqt.LiteDraft05 {
		t.Fatalf("negotiated %v over WebSocket, want moq-lite-05", sess.Version())
	}
	ar, err := sess.AcceptAnnounce(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ar.ReceiveAnnouncement(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := sess.Subscribe(ctx, "/m", "t", &moqt.TrackConfig{Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		gr, err := tr.AcceptGroup(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := gr.ReadFrame(); err != nil {
				break
			}
			got++
		}
		if got == groups*frames {
			close(release)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if got != groups*frames {
		t.Fatalf("subscriber got %d frames, want %d", got, groups*frames)
	}
	c := &http.Client{}
	defer c.CloseIdleConnections()
	if h := get(t, c, "http://"+r.Internal.String()+"/health"); !strings.Contains(h, "ok") {
		t.Errorf("/health = %q", h)
	}
	text := get(t, c, "http://"+r.Internal.String()+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`moq_relay_groups_total{role="subscriber",tier=""} %d`, groups),
		fmt.Sprintf(`moq_relay_frames_total{role="subscriber",tier=""} %d`, groups*frames),
		fmt.Sprintf(`moq_relay_bytes_total{role="subscriber",tier=""} %d`, groups*frames*10),
		`moq_relay_sessions{transport="websocket",version="moq-lite-05"} 2`,
		`moq_relay_subscriptions_opened_total{role="subscriber",tier=""} 1`, // one upstream
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", text)
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing (Debian package prometheus): CI must install it")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader([]byte(text))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
