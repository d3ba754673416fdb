package moqt_test

import (
	"context"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// TestAdvertisedLatency: a track whose publisher names no latency bound is
// advertised with the bound its groups are dropped by (Config.MaxLatency,
// default 2s), never 0, which @moq/net reads as "drop each group once a
// newer one arrives"; a track that names one is advertised with it. (On
// IETF sessions it travels as the DELIVERY_TIMEOUT track property of
// SUBSCRIBE_OK.)
func TestAdvertisedLatency(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		mux := moqt.NewTrackMux()
		serve := func(tw *moqt.TrackWriter) { <-tw.Context().Done() }
		mux.PublishFunc(context.Background(), "/default", serve)
		mux.Publish(context.Background(), "/named", infoHandler{moqt.TrackInfo{MaxLatency: 700 * time.Millisecond}, serve})
		srv := startServer(t, acceptInto(mux, nil), &moqt.Config{MaxLatency: 3 * time.Second})
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range map[moqt.BroadcastPath]time.Duration{"/default": 3 * time.Second, "/named": 700 * time.Millisecond} {
			tr, err := sess.Subscribe(context.Background(), path, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.Info().MaxLatency; got != want {
				t.Errorf("%s: advertised max latency %v, want %v", path, got, want)
			}
			tr.Close()
		}
	})
}

// infoHandler serves tracks with f and answers TrackInfo with info.
type infoHandler struct {
	info moqt.TrackInfo
	f    func(*moqt.TrackWriter)
}

func (h infoHandler) ServeTrack(tw *moqt.TrackWriter) { h.f(tw) }
func (h infoHandler) TrackInfo(moqt.BroadcastPath, moqt.TrackName) (moqt.TrackInfo, error) {
	return h.info, nil
}
