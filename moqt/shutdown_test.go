package moqt_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// Seed, "Immediate Shutdown": Close terminates every session with the
// no-error code, closes the listeners, and later calls are ignored.
func TestCloseTerminatesSessions(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		srv := startServer(t, acceptInto(nil, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Make sure the server has accepted it.
		if _, err := sess.Subscribe(context.Background(), "/none", "x", nil); err == nil {
			t.Fatal("subscribe to nothing succeeded")
		}
		done := make(chan error, 1)
		go func() { done <- srv.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if err := <-srv.done; !errors.Is(err, moqt.ErrServerClosed) {
			t.Fatalf("ServeQUICListener returned %v, want ErrServerClosed", err)
		}
		srv.done <- moqt.ErrServerClosed // for the cleanup
		select {
		case <-sess.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client session still open after Close")
		}
		var se *moqt.SessionError
		if err := context.Cause(sess.Context()); !errors.As(err, &se) || se.Code != moqt.NoError || !se.Remote {
			t.Fatalf("client session ended with %v, want a remote NoError", err)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := srv.ListenAndServe(); !errors.Is(err, moqt.ErrServerClosed) && !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("ListenAndServe after Close: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := newClient(t, v).Dial(ctx, srv.url(transport, "/"), nil); err == nil {
			t.Fatal("Dial succeeded after Close")
		}
	})
}

// Seed, "Graceful Shutdown": Shutdown lets a group in flight finish, sends
// GOAWAY where the version has it, then ends the sessions with no error.
func TestShutdownDrainsGroups(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		mux := moqt.NewTrackMux()
		started := make(chan struct{})
		release := make(chan struct{})
		openAfter := make(chan error, 1)
		mux.PublishFunc(context.Background(), "/live", func(tw *moqt.TrackWriter) {
			gw, err := tw.OpenGroup(context.Background(), 0)
			if err != nil {
				t.Error(err)
				return
			}
			gw.WriteFrame(context.Background(), moqt.NewFrame([]byte("first")))
			close(started)
			<-release
			gw.WriteFrame(context.Background(), moqt.NewFrame([]byte("second")))
			gw.Close()
			_, err = tw.OpenGroup(context.Background(), 1)
			openAfter <- err
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := sess.Subscribe(context.Background(), "/live", "video", nil)
		if err != nil {
			t.Fatal(err)
		}
		// The subscriber reads as the group arrives.
		received := make(chan string, 1)
		go func() {
			var got []string
			defer func() { received <- strings.Join(got, ",") }()
			gr, err := tr.AcceptGroup(context.Background())
			if err != nil {
				return
			}
			for {
				f, err := gr.ReadFrame()
				if err != nil {
					return
				}
				got = append(got, string(f.Payload))
			}
		}()
		<-started
		shutdown := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			shutdown <- srv.Shutdown(ctx)
		}()
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-shutdown:
			t.Fatalf("Shutdown returned %v with a group in flight", err)
		default:
		}
		close(release)
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := <-openAfter; err == nil {
			t.Fatal("OpenGroup succeeded during shutdown")
		}
		// The group in flight arrived whole.
		if got := <-received; got != "first,second" {
			t.Fatalf("group carried %q, want first,second", got)
		}
		<-sess.Context().Done()
		var se *moqt.SessionError
		if err := context.Cause(sess.Context()); !errors.As(err, &se) || se.Code != moqt.NoError {
			t.Fatalf("session ended with %v, want NoError", err)
		}
		if (v >= moqt.LiteDraft04 || v.IsIETF()) && !sess.PeerGoingAway() {
			t.Fatal("no GOAWAY received")
		}
	})
}

// Seed: when Shutdown's context ends first, the sessions are closed by force
// and Shutdown says so.
func TestShutdownForced(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		mux := moqt.NewTrackMux()
		started := make(chan struct{})
		mux.PublishFunc(context.Background(), "/stuck", func(tw *moqt.TrackWriter) {
			gw, err := tw.OpenGroup(context.Background(), 0)
			if err != nil {
				return
			}
			close(started)
			<-tw.Context().Done() // never finishes the group on its own
			gw.CancelWrite(moqt.CancelledError)
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Subscribe(context.Background(), "/stuck", "video", nil); err != nil {
			t.Fatal(err)
		}
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err = srv.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want an error wrapping context.DeadlineExceeded", err)
		}
		select {
		case <-sess.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session not closed after forced shutdown")
		}
	})
}

// Config.CheckHTTPOrigin refuses a WebTransport request with HTTP 403.
func TestOriginRefused(t *testing.T) {
	for _, v := range moqt.SupportedVersions() {
		t.Run(v.String(), func(t *testing.T) {
			cfg := &moqt.Config{CheckHTTPOrigin: func(r *http.Request) bool {
				return r.Header.Get("Origin") == "https://trusted.example.com"
			}}
			srv := startServer(t, acceptInto(nil, nil), cfg)
			_, err := newClient(t, v).Dial(context.Background(), srv.url("webtransport", "/"), nil)
			if err == nil || !strings.Contains(err.Error(), "403") {
				t.Fatalf("Dial from a disallowed origin: %v, want 403", err)
			}
		})
	}
}
