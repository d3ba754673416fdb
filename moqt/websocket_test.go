package moqt_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gomoq/gomoq/moqt"
)

// WebSocket sessions count against Config.MaxSessions with the others, and
// refusals before the upgrade are HTTP errors that say why.
func TestWebSocketLimitsAndRefusals(t *testing.T) {
	leakCheck(t)
	accepted := make(chan *moqt.Session, 2)
	srv := startServer(t, acceptInto(nil, accepted), &moqt.Config{MaxSessions: 2})
	c := newClient(t, moqt.LiteDraft05)
	ctx := context.Background()
	if _, err := c.Dial(ctx, srv.url("quic", "/"), nil); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Dial(ctx, srv.url("websocket", "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Version() != moqt.LiteDraft05 {
		t.Fatalf("negotiated %v", ws.Version())
	}
	// Both count once the server has accepted them.
	<-accepted
	<-accepted
	_, err = c.Dial(ctx, srv.url("websocket", "/"), nil)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "too many sessions") {
		t.Fatalf("a third session over WebSocket: %v, want 503 too many sessions", err)
	}
	if ws.Context().Err() != nil {
		t.Fatalf("the session within the limit ended: %v", context.Cause(ws.Context()))
	}

	// Refused before any upgrade: no subprotocol we speak, a plain GET, a
	// foreign origin.
	base := "http://" + srv.wsAddr + "/"
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
		body   string
	}{
		{"bare qmux and webtransport offers", http.Header{"Sec-Websocket-Protocol": {"qmux-02, qmux-01, webtransport"}}, 400, "qmux-02.moq-lite-05"},
		{"draft 14 and 16 offers", http.Header{"Sec-Websocket-Protocol": {"qmux-01.moq-00, qmux-01.moqt-16"}}, 400, "qmux-01.moqt-20"},
		{"no upgrade", nil, 400, "not a WebSocket upgrade"},
		{"foreign origin", http.Header{"Origin": {"https://elsewhere.example"}, "Sec-Websocket-Protocol": {"qmux-02.moq-lite-05"}}, 403, "origin"},
	} {
		req, _ := http.NewRequest(http.MethodGet, base, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		if tc.header != nil {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := rsp.Body.Read(buf)
		b.Write(buf[:n])
		rsp.Body.Close()
		if rsp.StatusCode != tc.status || !strings.Contains(b.String(), tc.body) {
			t.Errorf("%s: %s %q, want %d mentioning %q", tc.name, rsp.Status, b.String(), tc.status, tc.body)
		}
	}
}
