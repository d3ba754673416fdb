package moqt_test

import (
	"context"
	"errors"
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

// TestTrackInfoRequest: Session.TrackInfo asks for a track's properties
// without subscribing (TRACK on moq-lite-05, TRACK_STATUS on IETF) and gets
// what the publisher's TrackInfoHandler says, as far as the wire carries
// it; an unknown broadcast is NotFoundError; moq-lite-03/04 have no such
// request.
func TestTrackInfoRequest(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		mux := moqt.NewTrackMux()
		serve := func(tw *moqt.TrackWriter) { <-tw.Context().Done() }
		info := moqt.TrackInfo{Priority: 7, Ordered: true, MaxLatency: 700 * time.Millisecond, Timescale: 90000}
		mux.Publish(context.Background(), "/known", infoHandler{info, serve})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sess.TrackInfo(context.Background(), "/known", "video")
		var want moqt.TrackInfo
		switch {
		case v == moqt.LiteDraft03 || v == moqt.LiteDraft04:
			if !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("TrackInfo on %v: %v, want errors.ErrUnsupported", v, err)
			}
			return
		case v == moqt.LiteDraft05:
			want = info
		case v == moqt.IETFDraft17:
			// Draft 17's REQUEST_OK carries no Track Properties: the
			// answer only says that the track exists.
		default:
			// IETF carries the publisher's priority per object, not per track.
			want = moqt.TrackInfo{Ordered: true, MaxLatency: 700 * time.Millisecond, Timescale: 90000}
		}
		if err != nil {
			t.Fatalf("TrackInfo: %v", err)
		}
		if got != want {
			t.Errorf("TrackInfo = %+v, want %+v", got, want)
		}
		_, err = sess.TrackInfo(context.Background(), "/unknown", "video")
		var se *moqt.SubscribeError
		if !errors.As(err, &se) || se.Code != moqt.NotFoundError {
			t.Errorf("TrackInfo of an unknown broadcast: %v, want NotFoundError", err)
		}
		// The session carries on: a subscription after both requests works.
		tr, err := sess.Subscribe(context.Background(), "/known", "video", nil)
		if err != nil {
			t.Fatalf("Subscribe after TrackInfo: %v", err)
		}
		tr.Close()
	})
}
