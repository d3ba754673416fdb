package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/gomoq/gomoq/qmux"
	"github.com/gomoq/gomoq/quic"
)

// wsOffer is one Sec-WebSocket-Protocol value we can serve: a QMux wire
// format paired with a moq-lite version or an IETF draft.
type wsOffer struct {
	qmux    qmux.Version
	version Version
	value   string
}

// IsWebSocketUpgrade reports whether r asks to upgrade to a WebSocket.
func IsWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// webSocketOffers keeps the offered subprotocols that pair a QMux wire
// format with a version this server is configured for.
func (s *Server) webSocketOffers(h http.Header) []wsOffer {
	var out []wsOffer
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(line, ",") {
			p = strings.TrimSpace(p)
			qv, alpn, ok := qmux.ParseSubprotocol(p)
			if !ok {
				continue
			}
			v, ok := parseVersion(alpn)
			if !ok || !s.Config.supportsVersion(v) {
				continue
			}
			out = append(out, wsOffer{qmux: qv, version: v, value: p})
		}
	}
	return out
}

// webSocketSubprotocols lists what this server accepts, newest first.
func (s *Server) webSocketSubprotocols() []string {
	var out []string
	for _, v := range s.Config.versions() {
		for _, qv := range qmux.Versions {
			out = append(out, qmux.Subprotocol(qv, v.String()))
		}
	}
	return out
}

// ServeWebSocket serves a WebSocket upgrade request carrying QMux, which
// browsers without WebTransport (Safari, older Firefox, networks that block
// UDP) use: @moq/net offers "qmux-0N.moq-lite-0M" and "qmux-0N.moqt-NN"
// subprotocols (an IETF draft over QMux runs exactly as over
// WebTransport: the URL carries the path, SETUP carries no PATH or
// AUTHORITY). It checks
// the origin (Config.CheckHTTPOrigin) and the offered subprotocols, and
// routes the setup request to the Handler exactly as ServeWebTransport
// does: the path and query mean the same, and a refused request gets an
// HTTP error status (403 for a disallowed origin, 400 for a request that is
// not a WebSocket upgrade or offers nothing this server speaks, 503 while
// shutting down). Accept then picks the offered version that comes first
// in the server's preference (Config.Versions; by default moq-lite, newest
// first, then IETF) and, for it, the newest QMux wire format offered; the session counts against
// Config.MaxSessions like any other, and a peer that sends nothing is
// dropped after Config.SetupTimeout. Bare "qmux-0N" and "webtransport"
// offers, which leave the moq version to a SETUP exchange of versions this
// server does not speak, are not selected.
//
// Mount it on any net/http server, for example for every path:
//
//	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//		if moqt.IsWebSocketUpgrade(r) {
//			server.ServeWebSocket(w, r)
//			return
//		}
//		// ... other HTTP endpoints
//	})
//
// It returns once the handler returns; an accepted session lives on.
func (s *Server) ServeWebSocket(w http.ResponseWriter, r *http.Request) error {
	s.init()
	if s.isClosing() {
		s.stats.shuttingDown.Add(1)
		http.Error(w, "moqt: server shutting down", http.StatusServiceUnavailable)
		return ErrServerClosed
	}
	if r.Method != http.MethodGet || !IsWebSocketUpgrade(r) {
		s.stats.malformedSetups.Add(1)
		http.Error(w, "moqt: not a WebSocket upgrade request", http.StatusBadRequest)
		return fmt.Errorf("moqt: not a WebSocket upgrade request (%s %s)", r.Method, r.Proto)
	}
	if err := s.checkOrigin(w, r); err != nil {
		return err
	}
	offers := s.webSocketOffers(r.Header)
	if len(offers) == 0 {
		msg := fmt.Sprintf("moqt: no supported subprotocol in Sec-WebSocket-Protocol %q (supported: %s)",
			strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "), strings.Join(s.webSocketSubprotocols(), ", "))
		s.stats.versionMismatches.Add(1)
		http.Error(w, msg, http.StatusBadRequest)
		return errors.New(msg)
	}
	var versions []Version
	for _, o := range offers {
		if !containsVersion(versions, o.version) {
			versions = append(versions, o.version)
		}
	}
	return s.routeHTTP(&setupResponseWriter{server: s, http: w, ws: offers}, r, versions)
}

func containsVersion(list []Version, v Version) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// acceptWebSocket completes the WebSocket upgrade with the chosen
// subprotocol and starts the QMux connection on it.
func (s *Server) acceptWebSocket(rw *setupResponseWriter, r *SetupRequest) (quic.Connection, Version, error) {
	version := newestVersion(r.Versions, s.Config.versions())
	var offer wsOffer
	for _, qv := range qmux.Versions {
		for _, o := range rw.ws {
			if o.version == version && o.qmux == qv && offer.value == "" {
				offer = o
			}
		}
	}
	if offer.value == "" {
		// The handler changed r.Versions to one the client did not offer.
		http.Error(rw.http, "moqt: no offered subprotocol for "+version.String(), http.StatusBadRequest)
		return nil, 0, fmt.Errorf("moqt: the client offered no subprotocol for %v", version)
	}
	ws, err := websocket.Accept(rw.http, r.Request, &websocket.AcceptOptions{
		Subprotocols:       []string{offer.value},
		InsecureSkipVerify: true, // ServeWebSocket checked the origin
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.stats.upgradeFailures.Add(1)
		return nil, 0, fmt.Errorf("moqt: WebSocket upgrade: %w", err)
	}
	var local, remote net.Addr
	if a, ok := r.Request.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local = a
	}
	if a, err := net.ResolveTCPAddr("tcp", r.Request.RemoteAddr); err == nil {
		remote = a
	}
	qc := s.quicConfig()
	cfg := &qmux.Config{
		Version:               offer.qmux,
		Protocol:              offer.version.String(),
		TLS:                   r.Request.TLS,
		MaxIncomingStreams:    qc.MaxIncomingStreams,
		MaxIncomingUniStreams: qc.MaxIncomingUniStreams,
		MaxIdleTimeout:        qc.MaxIdleTimeout,
		HandshakeTimeout:      s.Config.setupTimeout(),
		EnableDatagrams:       true,
	}
	if qc.MaxStreamReceiveWindow > 0 {
		cfg.StreamReceiveWindow = qc.MaxStreamReceiveWindow
	}
	if qc.MaxConnectionReceiveWindow > 0 {
		cfg.ConnectionReceiveWindow = qc.MaxConnectionReceiveWindow
	} else {
		cfg.ConnectionReceiveWindow = serverWebSocketWindow
	}
	return qmux.Server(qmux.WebSocket(ws, local, remote), cfg), offer.version, nil
}

// serverWebSocketWindow is the connection receive window of a WebSocket
// session whose QUICConfig sets none: room for many publishers' groups in
// flight at once, as quic-go's auto-tuned windows give native sessions.
const serverWebSocketWindow = 16 << 20

// dialWebSocket dials a ws:// or wss:// URL, offering every configured
// version (in the configured order) over every QMux wire format, newest
// first.
func (c *Client) dialWebSocket(ctx context.Context, u *url.URL) (quic.Connection, Version, error) {
	var offers []string
	for _, v := range c.Config.versions() {
		for _, qv := range qmux.Versions {
			offers = append(offers, qmux.Subprotocol(qv, v.String()))
		}
	}
	tc := c.tlsConfig()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false}}
	ws, rsp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      hc,
		HTTPHeader:      c.Header.Clone(),
		Subprotocols:    offers,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if rsp != nil && rsp.StatusCode != http.StatusSwitchingProtocols {
			// The server's refusal says why in its body (at most 1 KiB
			// of it is kept).
			body, _ := io.ReadAll(io.LimitReader(rsp.Body, 1024))
			return nil, 0, fmt.Errorf("moqt: WebSocket dial %s: %s: %s", u.Redacted(), rsp.Status, strings.TrimSpace(string(body)))
		}
		return nil, 0, fmt.Errorf("moqt: WebSocket dial %s: %w", u.Redacted(), err)
	}
	sp := ws.Subprotocol()
	qv, alpn, ok := qmux.ParseSubprotocol(sp)
	v, vok := parseVersion(alpn)
	if !ok || !vok || !c.Config.supportsVersion(v) {
		ws.Close(websocket.StatusProtocolError, "no supported version selected")
		return nil, 0, fmt.Errorf("moqt: server selected no supported subprotocol (%q)", sp)
	}
	qc := c.quicConfig()
	cfg := &qmux.Config{
		Version:                 qv,
		Protocol:                alpn,
		MaxIncomingStreams:      qc.MaxIncomingStreams,
		MaxIncomingUniStreams:   qc.MaxIncomingUniStreams,
		StreamReceiveWindow:     qc.MaxStreamReceiveWindow,
		ConnectionReceiveWindow: qc.MaxConnectionReceiveWindow,
		MaxIdleTimeout:          qc.MaxIdleTimeout,
		HandshakeTimeout:        c.Config.setupTimeout(),
		EnableDatagrams:         true,
	}
	return qmux.Client(qmux.WebSocket(ws, nil, nil), cfg), v, nil
}
