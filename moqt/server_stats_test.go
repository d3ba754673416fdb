package moqt_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

// waitRefused dials url and waits until the server ended the attempt: Dial
// failed, or the session it established was closed.
func waitRefused(t *testing.T, c *moqt.Client, url string) {
	t.Helper()
	sess, err := c.Dial(context.Background(), url, nil)
	if err == nil {
		<-sess.Context().Done()
	}
}

// Server.Stats counts each way a setup ends without a session, once.
func TestServerStatsCountsRefusals(t *testing.T) {
	leakCheck(t)
	var want moqt.ServerStats
	check := func(what string, srv *testServer) {
		t.Helper()
		if got := srv.Stats(); got != want {
			t.Fatalf("after %s: Stats() = %+v, want %+v", what, got, want)
		}
	}
	srv := startServer(t, func(s *moqt.Server) moqt.SetupHandler {
		return moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, r *moqt.SetupRequest) {
			switch r.Path {
			case "/reject":
				w.Reject(http.StatusUnauthorized, "no")
			case "/ignore":
			default:
				s.Accept(w, r, nil)
			}
		})
	}, &moqt.Config{MaxSessions: 1, Versions: []moqt.Version{moqt.LiteDraft05}})
	c := newClient(t, moqt.LiteDraft05)

	waitRefused(t, c, srv.url("quic", "/reject"))
	want.Rejected++
	check("a rejected native session", srv)
	waitRefused(t, c, srv.url("webtransport", "/reject"))
	want.Rejected++
	check("a rejected WebTransport session", srv)

	waitRefused(t, c, srv.url("quic", "/ignore"))
	want.Unanswered++
	check("an unanswered native session", srv)

	evil := newClient(t, moqt.LiteDraft05)
	evil.Header = http.Header{"Origin": {"https://elsewhere.example"}}
	waitRefused(t, evil, srv.url("webtransport", "/"))
	want.OriginRefusals++
	check("a foreign origin", srv)

	waitRefused(t, newClient(t, moqt.LiteDraft04), srv.url("webtransport", "/"))
	want.VersionMismatches++
	check("a WebTransport client offering no accepted version", srv)

	sess, err := c.Dial(context.Background(), srv.url("quic", "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitRefused(t, c, srv.url("quic", "/"))
	want.SessionLimit++
	check("a session over MaxSessions", srv)
	if sess.Context().Err() != nil {
		t.Fatalf("the session within the limit ended: %v", context.Cause(sess.Context()))
	}
}

// A native moq-lite-05 client that sends no SETUP is counted as a setup
// timeout.
func TestServerStatsCountsSetupTimeout(t *testing.T) {
	leakCheck(t)
	srv := startServer(t, acceptInto(nil, nil), &moqt.Config{SetupTimeout: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, srv.addr, &tls.Config{RootCAs: testCert.Pool(), NextProtos: []string{moqt.LiteDraft05.String()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-conn.Context().Done() // closed by the server's setup timeout
	if got := srv.Stats(); got != (moqt.ServerStats{SetupTimeouts: 1}) {
		t.Fatalf("Stats() = %+v, want one setup timeout", got)
	}
}
