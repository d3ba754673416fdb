package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// logBuffer collects JSON log lines and wakes waiters on each write.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed and replaced on each write
}

func newLogBuffer() *logBuffer { return &logBuffer{wrote: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.wrote)
	b.wrote = make(chan struct{})
	return len(p), nil
}

// next waits for the (skip+1)-th line whose msg is msg, and returns it
// decoded.
func (b *logBuffer) next(t *testing.T, msg string, skip int) map[string]any {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		b.mu.Lock()
		lines := strings.Split(b.buf.String(), "\n")
		wrote := b.wrote
		b.mu.Unlock()
		n := 0
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != msg {
				continue
			}
			if n == skip {
				return m
			}
			n++
		}
		select {
		case <-wrote:
		case <-timeout:
			t.Fatalf("no %q line #%d in the log:\n%s", msg, skip+1, strings.Join(lines, "\n"))
		}
	}
}

// TestSessionEndLog: the relay logs one line when a session ends, with
// its path, version, duration, groups and bytes in and out, and why it
// ended; the counts are those of a known publish and subscribe.
func TestSessionEndLog(t *testing.T) {
	const groups, frames, size = 5, 3, 10
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		logs := newLogBuffer()
		// No linger timer may end the upstream subscription between a
		// moq-lite-05 track info request and the subscription.
		r := startRelay(t, relay.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Linger: time.Hour})
		mux := moqt.NewTrackMux()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// One upstream subscription: the track's groups, then its end once
		// the subscriber has them all.
		release := make(chan struct{})
		var served atomic.Int64
		mux.PublishFunc(ctx, "/known", func(tw *moqt.TrackWriter) {
			if served.Add(1) > 1 {
				t.Errorf("the publisher was subscribed to %d times, want once", served.Load())
			}
			for g := range groups {
				gw, err := tw.OpenGroup(ctx, uint64(g))
				if err != nil {
					t.Errorf("OpenGroup: %v", err)
					return
				}
				for f := range frames {
					gw.WriteFrame(ctx, moqt.NewFrame(fmt.Appendf(nil, "%0*d", size, g*frames+f)))
				}
				gw.Close()
			}
			select {
			case <-release:
			case <-tw.Context().Done():
			}
			tw.Close()
		})
		pub := dial(t, r, transport, v, "/", mux)
		sub := dial(t, r, transport, v, "/", nil)
		waitAnnounce(t, sub, "/", "/known")
		tr, err := sub.Subscribe(context.Background(), "/known", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		for g := range groups {
			gr, err := tr.AcceptGroup(context.Background())
			if err != nil {
				t.Fatalf("group %d: %v", g, err)
			}
			drainGroup(gr)
		}
		// The track's end comes after the relay's sender finished every
		// group, so its counts are final.
		close(release)
		if _, err := tr.AcceptGroup(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("after %d groups: %v, want the track's end", groups, err)
		}

		// The subscriber leaves first, then the publisher: their lines
		// come in that order.
		sub.Terminate(moqt.NoError, "subscriber done")
		subLine := logs.next(t, "relay: session ended", 0)
		pub.Terminate(moqt.NoError, "publisher done")
		pubLine := logs.next(t, "relay: session ended", 1)

		check := func(who string, line map[string]any, want map[string]float64) {
			t.Helper()
			for k, n := range want {
				if line[k] != n {
					t.Errorf("%s's session-end line: %s = %v, want %v (line %v)", who, k, line[k], n, line)
				}
			}
			if line["path"] != "/" || line["version"] != v.String() || line["level"] != "INFO" {
				t.Errorf("%s's session-end line: path %v version %v level %v, want / %v INFO", who, line["path"], line["version"], line["level"], v)
			}
			if d, ok := line["duration"].(float64); !ok || d <= 0 {
				t.Errorf("%s's session-end line: duration %v", who, line["duration"])
			}
			// Over WebTransport the peer's reason does not always reach
			// the relay (some runs report the close as "no error" without
			// it, as package webtransport's closeReason finds it): only the
			// native QUIC runs check the reason's text.
			reason, _ := line["reason"].(string)
			if !strings.Contains(reason, "terminated (remote)") || transport == "quic" && !strings.Contains(reason, who+" done") {
				t.Errorf("%s's session-end line: reason %q, want the peer's close and its reason %q", who, reason, who+" done")
			}
			if remote, _ := line["remote"].(string); remote == "" {
				t.Errorf("%s's session-end line has no remote address", who)
			}
		}
		check("subscriber", subLine, map[string]float64{
			"groups_in": 0, "bytes_in": 0,
			"groups_out": groups, "bytes_out": groups * frames * size, "groups_dropped_out": 0,
		})
		check("publisher", pubLine, map[string]float64{
			"groups_in": groups, "bytes_in": groups * frames * size,
			"groups_out": 0, "bytes_out": 0, "groups_dropped_out": 0,
		})
	})
}
