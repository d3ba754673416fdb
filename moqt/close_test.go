package moqt_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// Close and Shutdown work when called from inside a SetupHandler; they
// return (the handler's own goroutine is not waited for).
func TestCloseAndShutdownFromSetupHandler(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		forEach(t, func(t *testing.T, transport string, v moqt.Version) {
			returned := make(chan error, 1)
			dialed := make(chan struct{})
			srv := startServer(t, func(srv *moqt.Server) moqt.SetupHandler {
				return moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, r *moqt.SetupRequest) {
					if _, err := srv.Accept(w, r, nil); err != nil {
						returned <- err
						return
					}
					<-dialed // the client has its session
					if how == "Close" {
						returned <- srv.Close()
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					returned <- srv.Shutdown(ctx)
				})
			}, nil)
			sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			close(dialed)
			if err := <-returned; err != nil {
				t.Fatalf("%s from the handler: %v", how, err)
			}
			<-sess.Context().Done()
			var se *moqt.SessionError
			if err := context.Cause(sess.Context()); !errors.As(err, &se) || se.Code != moqt.NoError {
				t.Fatalf("session ended with %v, want NoError", err)
			}
		})
	}
}

// Server.Close returns although a TrackHandler ignores its context and
// never returns: Close cancels handlers, it does not wait for them.
func TestCloseDoesNotWaitForHandlers(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		release := make(chan struct{})
		entered := make(chan struct{})
		mux := moqt.NewTrackMux()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mux.PublishFunc(ctx, "/stuck", func(tw *moqt.TrackWriter) {
			close(entered)
			<-release // ignores tw.Context()
		})
		sessions := make(chan *moqt.Session, 1)
		srv := startServer(t, acceptInto(mux, sessions), nil)
		defer close(release)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		serverSess := <-sessions
		if _, err := sess.Subscribe(context.Background(), "/stuck", "t", nil); err != nil {
			t.Fatal(err)
		}
		<-entered
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		<-serverSess.Context().Done()
		<-sess.Context().Done()
	})
}

// Shutdown waits for the subscribers to have the whole track: the client
// closes its side of each subscription once it read the end and every
// group, and only then is the session terminated.
func TestShutdownWaitsForSubscribers(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const n = 200
		mux := moqt.NewTrackMux()
		mux.PublishFunc(ctx, "/b", func(tw *moqt.TrackWriter) {
			defer tw.Close()
			for seq := range n {
				gw, err := tw.OpenGroup(ctx, uint64(seq))
				if err != nil {
					return // going away
				}
				gw.WriteFrame(ctx, moqt.NewFrame(fmt.Appendf(nil, "%d", seq)))
				gw.Close()
			}
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := sess.Subscribe(context.Background(), "/b", "t", &moqt.TrackConfig{Ordered: true, MaxLatency: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		// Shut down while the groups are being sent: once the first one
		// arrived (the server serves the subscription).
		first, err := tr.AcceptGroup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		drain(first)
		shut := make(chan error, 1)
		go func() {
			sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
			defer scancel()
			shut <- srv.Shutdown(sctx)
		}()
		seqs := append([]uint64{first.GroupSequence()}, readAll(t, tr)...)
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		// Shutdown refuses groups opened after GOAWAY: the track ends
		// early but whole, and every group it said it sent arrived.
		want := map[uint64]bool{}
		for _, s := range seqs {
			want[s] = true
		}
		checkOnce(t, "subscriber", seqs, want, orderGuaranteed(transport, v))
		if st := tr.Stats(); v >= moqt.LiteDraft05 && st.Received+st.Dropped < uint64(len(seqs)) {
			t.Fatalf("stats %+v", st)
		}
	})
}
