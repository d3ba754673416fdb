package moqt_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomoq/gomoq/internal/quictest"
	"github.com/gomoq/gomoq/internal/selfsign"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

var testCert = func() *selfsign.Certificate {
	c, err := selfsign.Generate([]string{"localhost", "127.0.0.1", "::1"}, 0)
	if err != nil {
		panic(err)
	}
	return c
}()

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MOQT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testServer runs a Server on a loopback port with handler as its router.
type testServer struct {
	*moqt.Server
	addr   string
	wsAddr string // TCP address serving ServeWebSocket
	done   chan error
}

func startServer(t testing.TB, handler func(*moqt.Server) moqt.SetupHandler, config *moqt.Config) *testServer {
	t.Helper()
	srv := &moqt.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{testCert.TLS}},
		Config:    config,
		Logger:    testLogger(t),
	}
	srv.Handler = handler(srv)
	tc := srv.TLSConfig.Clone()
	tc.NextProtos = srv.NextProtos(nil)
	ln, closeTransport := quictest.ListenLoopback(t, tc, srv.QUICListenConfig())
	ts := &testServer{Server: srv, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.ServeQUICListener(ln) }()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeWebSocket(w, r)
	}))
	ts.wsAddr = hs.Listener.Addr().String()
	t.Cleanup(func() {
		srv.Close()
		if err := <-ts.done; !errors.Is(err, moqt.ErrServerClosed) {
			t.Errorf("ServeQUICListener returned %v, want ErrServerClosed", err)
		}
		hs.Close()
		closeTransport()
	})
	return ts
}

func (ts *testServer) url(transport, path string) string {
	switch transport {
	case "quic":
		return "moqt://" + ts.addr + path
	case "websocket":
		return "ws://" + ts.wsAddr + path
	}
	return "https://" + ts.addr + path
}

func newClient(t testing.TB, v moqt.Version) *moqt.Client {
	c := &moqt.Client{
		TLSConfig: &tls.Config{RootCAs: testCert.Pool()},
		Config:    &moqt.Config{Versions: []moqt.Version{v}},
		Logger:    testLogger(t),
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// forEach runs f for every transport and version.
func forEach(t *testing.T, f func(t *testing.T, transport string, v moqt.Version)) {
	for _, transport := range []string{"quic", "webtransport", "websocket"} {
		for _, v := range moqt.SupportedVersions() {
			t.Run(transport+"/"+v.String(), func(t *testing.T) {
				leakCheck(t)
				f(t, transport, v)
			})
		}
	}
}

// acceptInto accepts every session with mux and sends it on ch.
func acceptInto(mux *moqt.TrackMux, ch chan *moqt.Session) func(*moqt.Server) moqt.SetupHandler {
	return func(srv *moqt.Server) moqt.SetupHandler {
		return acceptWith(srv, mux, ch)
	}
}

func acceptWith(srv *moqt.Server, mux *moqt.TrackMux, ch chan *moqt.Session) moqt.SetupHandler {
	return moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, r *moqt.SetupRequest) {
		sess, err := srv.Accept(w, r, mux)
		if err != nil {
			return
		}
		if ch != nil {
			ch <- sess
		}
	})
}

func payload(track string, group, frame int) string {
	return fmt.Sprintf("%s:%d:%d", track, group, frame)
}

// writeGroups writes groups×frames frames, with timestamps group*1e6+frame*1e3.
func writeGroups(tw *moqt.TrackWriter, groups, frames int) error {
	for g := range groups {
		gw, err := tw.OpenGroup(context.Background(), uint64(g))
		if err != nil {
			return err
		}
		for f := range frames {
			fr := &moqt.Frame{Payload: []byte(payload(string(tw.TrackName()), g, f)), Timestamp: uint64(g*1_000_000 + f*1000)}
			if err := gw.WriteFrame(context.Background(), fr); err != nil {
				return err
			}
		}
		if err := gw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// readGroups reads a track to its end and checks every frame.
func readGroups(t *testing.T, tr *moqt.TrackReader, v moqt.Version, groups, frames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[uint64]bool{}
	for {
		gr, err := tr.AcceptGroup(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("AcceptGroup: %v", err)
		}
		seq := gr.GroupSequence()
		if got[seq] {
			t.Fatalf("group %d twice", seq)
		}
		got[seq] = true
		for f := 0; ; f++ {
			fr, err := gr.ReadFrame()
			if err == io.EOF {
				if f != frames {
					t.Fatalf("group %d: %d frames, want %d", seq, f, frames)
				}
				break
			}
			if err != nil {
				t.Fatalf("group %d frame %d: %v", seq, f, err)
			}
			if want := payload(string(tr.TrackName()), int(seq), f); string(fr.Payload) != want {
				t.Fatalf("frame payload %q, want %q", fr.Payload, want)
			}
			wantTS := uint64(0)
			if v >= moqt.LiteDraft05 || v.IsIETF() {
				wantTS = seq*1_000_000 + uint64(f)*1000
			}
			if fr.Timestamp != wantTS {
				t.Fatalf("group %d frame %d: timestamp %d, want %d", seq, f, fr.Timestamp, wantTS)
			}
		}
	}
	if len(got) != groups {
		t.Fatalf("got %d groups, want %d", len(got), groups)
	}
}

func TestServerPublishesClientSubscribes(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		mux := moqt.NewTrackMux()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The client connects at /room and sees the mux from there; native
		// moq-lite-03/04 carry no path, so those sessions see it from "/".
		root := "/room"
		if transport == "quic" && v < moqt.LiteDraft05 {
			root = "/"
		}
		mux.PublishFunc(ctx, moqt.BroadcastPath(root+"/clock"), func(tw *moqt.TrackWriter) {
			if err := writeGroups(tw, 3, 5); err != nil {
				t.Errorf("writing: %v", err)
			}
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, root), moqt.NewTrackMux())
		if err != nil {
			t.Fatal(err)
		}
		if sess.Version() != v {
			t.Fatalf("negotiated %v, want %v", sess.Version(), v)
		}
		tr, err := sess.Subscribe(context.Background(), "/clock", "seconds", nil)
		if err != nil {
			t.Fatal(err)
		}
		readGroups(t, tr, v, 3, 5)

		// An unknown broadcast is refused with NotFoundError.
		_, err = sess.Subscribe(context.Background(), "/nope", "seconds", nil)
		var se *moqt.SubscribeError
		if !errors.As(err, &se) || se.Code != moqt.NotFoundError {
			t.Fatalf("Subscribe to unknown broadcast: %v, want NotFoundError", err)
		}
	})
}

func TestClientPublishesServerSubscribes(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		sessions := make(chan *moqt.Session, 1)
		srv := startServer(t, acceptInto(moqt.NewTrackMux(), sessions), nil)
		clientMux := moqt.NewTrackMux()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clientMux.PublishFunc(ctx, "/alice", func(tw *moqt.TrackWriter) {
			if err := writeGroups(tw, 4, 3); err != nil {
				t.Errorf("writing: %v", err)
			}
		})
		if _, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), clientMux); err != nil {
			t.Fatal(err)
		}
		sess := <-sessions
		ar, err := sess.AcceptAnnounce(context.Background(), "/")
		if err != nil {
			t.Fatal(err)
		}
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer acancel()
		ann, err := ar.ReceiveAnnouncement(actx)
		if err != nil {
			t.Fatal(err)
		}
		if ann.BroadcastPath() != "/alice" {
			t.Fatalf("announced %q, want /alice", ann.BroadcastPath())
		}
		tr, err := sess.Subscribe(context.Background(), ann.BroadcastPath(), "video", nil)
		if err != nil {
			t.Fatal(err)
		}
		readGroups(t, tr, v, 4, 3)
		cancel() // unpublish
		select {
		case <-ann.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("announcement did not end after unpublishing")
		}
	})
}

func TestAnnouncementsPrefix(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		mux := moqt.NewTrackMux()
		noop := moqt.TrackHandlerFunc(func(tw *moqt.TrackWriter) {})
		ctxA, endA := context.WithCancel(context.Background())
		defer endA()
		mux.Publish(ctxA, "/room/a", noop)
		mux.Publish(context.Background(), "/room/b", noop)
		mux.Publish(context.Background(), "/roomy/x", noop)
		mux.Publish(context.Background(), "/other/c", noop)
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ar, err := sess.AcceptAnnounce(context.Background(), "/room")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got := map[moqt.BroadcastPath]*moqt.Announcement{}
		for len(got) < 2 {
			a, err := ar.ReceiveAnnouncement(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			got[a.BroadcastPath()] = a
		}
		if got["/room/a"] == nil || got["/room/b"] == nil {
			t.Fatalf("got %v, want /room/a and /room/b", got)
		}
		endA()
		select {
		case <-got["/room/a"].Done():
		case <-ctx.Done():
			t.Fatal("end of /room/a not received")
		}
		mux.Publish(context.Background(), "/room/d", noop)
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil || a.BroadcastPath() != "/room/d" {
			t.Fatalf("got %v, %v; want /room/d", a, err)
		}
		// The prefix equal to a broadcast path announces it with an empty suffix.
		ar2, err := sess.AcceptAnnounce(context.Background(), "/room/b")
		if err != nil {
			t.Fatal(err)
		}
		a, err = ar2.ReceiveAnnouncement(ctx)
		if err != nil || a.BroadcastPath() != "/room/b" {
			t.Fatalf("got %v, %v; want /room/b", a, err)
		}
	})
}

func TestUnknownPathRejected(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		if transport == "quic" && v < moqt.LiteDraft05 {
			t.Skip("moq-lite-03/04 carry no path over native QUIC")
		}
		srv := startServer(t, func(s *moqt.Server) moqt.SetupHandler {
			router := moqt.NewRouter()
			router.Handle("/known", acceptWith(s, nil, nil))
			return router
		}, nil)
		_, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/unknown"), nil)
		if transport == "websocket" {
			// Refused before the upgrade, with the reason in the body.
			if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no handler for path") {
				t.Fatalf("Dial to unknown path: %v, want a 404 saying why", err)
			}
			return
		}
		if transport == "webtransport" {
			if err == nil || !strings.Contains(err.Error(), "404") {
				t.Fatalf("Dial to unknown path: %v, want a 404 error", err)
			}
			return
		}
		// Native QUIC: the connection is closed with the reason.
		if err == nil {
			// The session may establish before the server's close arrives.
			sess, _ := newClient(t, v).Dial(context.Background(), srv.url(transport, "/unknown"), nil)
			<-sess.Context().Done()
			err = context.Cause(sess.Context())
		}
		if !strings.Contains(err.Error(), "no handler for path") {
			t.Fatalf("got %v, want a 'no handler for path' close", err)
		}
	})
}

var _ = http.StatusOK
var _ sync.Mutex

// moq-00 (IETF moq-transport draft 14) may be listed in NextProtos, but such
// connections are closed with a clear reason until it is supported.
func TestIETFALPNRefusedClearly(t *testing.T) {
	srv := &moqt.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{testCert.TLS}, NextProtos: []string{"h3", "moq-00"}}}
	srv.Handler = acceptWith(srv, nil, nil)
	tc := srv.TLSConfig.Clone()
	tc.NextProtos = srv.NextProtos(tc.NextProtos)
	if tc.NextProtos[0] != "h3" || tc.NextProtos[1] != "moq-00" {
		t.Fatalf("NextProtos %v: the user's ALPNs must come first, kept", tc.NextProtos)
	}
	ln, closeTransport := quictest.ListenLoopback(t, tc, srv.QUICListenConfig())
	defer closeTransport()
	go srv.ServeQUICListener(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{RootCAs: testCert.Pool(), NextProtos: []string{"moq-00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-conn.Context().Done()
	var ae *quic.ApplicationError
	if err := context.Cause(conn.Context()); !errors.As(err, &ae) || ae.ErrorCode != quic.ApplicationErrorCode(moqt.VersionNegotiationError) || !strings.Contains(ae.ErrorMessage, "moq-00") {
		t.Fatalf("moq-00 connection closed with %v", err)
	}
}

// Closing a subscription cancels the group being read.
func TestTrackReaderCloseCancelsGroups(t *testing.T) {
	mux := moqt.NewTrackMux()
	mux.PublishFunc(context.Background(), "/open", func(tw *moqt.TrackWriter) {
		gw, err := tw.OpenGroup(context.Background(), 0)
		if err != nil {
			return
		}
		gw.WriteFrame(context.Background(), moqt.NewFrame([]byte("first")))
		<-tw.Context().Done() // the group stays open
	})
	srv := startServer(t, acceptInto(mux, nil), nil)
	sess, err := newClient(t, moqt.LiteDraft05).Dial(context.Background(), srv.url("quic", "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sess.Subscribe(context.Background(), "/open", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := tr.AcceptGroup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gr.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := gr.ReadFrame()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	tr.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("ReadFrame succeeded after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame still blocked after the subscription was closed")
	}
}
