package relay_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, string, http.Header) {
	t.Helper()
	rsp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b), rsp.Header
}

func TestHTTPEndpoints(t *testing.T) {
	r := startRelay(t, relay.Options{})
	srv := httptest.NewServer(r.HTTPHandler("00ff" + strings.Repeat("a", 60)))
	defer srv.Close()

	code, body, h := get(t, srv, "/certificate.sha256")
	if code != 200 || body != "00ff"+strings.Repeat("a", 60) || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("/certificate.sha256: %d %q CORS %q", code, body, h.Get("Access-Control-Allow-Origin"))
	}
	if code, body, _ := get(t, srv, "/health"); code != 200 || body != "ok\n" {
		t.Fatalf("/health: %d %q", code, body)
	}

	// Two broadcasts: one finished group of three frames and a group in
	// progress on "t".
	mux := moqt.NewTrackMux()
	release := make(chan struct{})
	defer close(release)
	mux.PublishFunc(context.Background(), "/room/a", func(tw *moqt.TrackWriter) {
		gw, _ := tw.OpenGroup(context.Background(), 0)
		for _, p := range []string{"x", "y", "z"} {
			gw.WriteFrame(context.Background(), moqt.NewFrame([]byte(p)))
		}
		gw.Close()
		gw, _ = tw.OpenGroup(context.Background(), 1)
		gw.WriteFrame(context.Background(), moqt.NewFrame([]byte("p")))
		gw.WriteFrame(context.Background(), moqt.NewFrame([]byte("q")))
		gw.Close()
		<-release
	})
	mux.PublishFunc(context.Background(), "/other", func(tw *moqt.TrackWriter) { <-release })
	dial(t, r, "quic", moqt.LiteDraft05, "/", mux)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body, _ = get(t, srv, "/announced/")
		if body == "other\nroom/a\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/announced/ = %q", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, body, _ := get(t, srv, "/announced/room"); body != "room/a\n" {
		t.Fatalf("/announced/room = %q", body)
	}
	if _, body, _ := get(t, srv, "/announced/roo"); body != "" {
		t.Fatalf("/announced/roo = %q, want nothing (prefixes match whole segments)", body)
	}
	// The latest complete group: "xyz" until group 1 has arrived, then "pq".
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, body, _ := get(t, srv, "/fetch/room/a/t")
		if code != 200 || (body != "pq" && body != "xyz") {
			t.Fatalf("/fetch/room/a/t: %d %q", code, body)
		}
		if body == "pq" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/fetch/room/a/t never returned the latest group")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body, _ := get(t, srv, "/fetch/room/a/t?group=0"); code != 200 || body != "xyz" {
		t.Fatalf("/fetch/room/a/t?group=0: %d %q", code, body)
	}
	if code, _, _ := get(t, srv, "/fetch/room/a/t?group=7"); code != 404 {
		t.Fatalf("/fetch of a group not cached: %d, want 404", code)
	}
	if code, _, _ := get(t, srv, "/fetch/nope/t"); code != 404 {
		t.Fatalf("/fetch of an unknown broadcast: %d, want 404", code)
	}
}
