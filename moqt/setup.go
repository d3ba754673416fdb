package moqt

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
)

// SetupRequest is a client's request to establish a session, as routed to
// a SetupHandler.
type SetupRequest struct {
	// Path is the request's path: the WebTransport URL path, or on
	// native QUIC the moq-lite-05 SETUP Path or the IETF SETUP PATH option
	// ("/" when the version carries none).
	Path string
	// URL is the request's path and query (for example "?jwt=...").
	URL *url.URL
	// Versions are the versions the client offered that this server
	// accepts, in the client's order. Server.Accept picks the first of
	// Config.Versions (default: moq-lite newest first, then IETF newest
	// first) among them.
	Versions []Version
	// RemoteAddr is the client's network address.
	RemoteAddr string
	// Request is the HTTP CONNECT request of a WebTransport session; nil on
	// native QUIC. Handlers read headers and query parameters from it.
	Request *http.Request

	// Role is the moq-lite-05 SETUP Role of the client: 1 publisher,
	// 2 subscriber, 0 both (or not said).
	Role uint64

	ctx       context.Context
	peerSetup *wire.Setup
	// IETF on native QUIC: the client's SETUP and its control stream,
	// read before routing (for the PATH option).
	ietfSetup *ietf.Setup
	peerCtrl  *ietf.Reader
}

// Context returns the request's context: the HTTP request's for
// WebTransport, the connection's for native QUIC.
func (r *SetupRequest) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// SetupResponseWriter answers a setup request. A handler either passes it
// to Server.Accept or calls Reject.
type SetupResponseWriter interface {
	// Reject refuses the session. status is an HTTP status code: a
	// WebTransport request gets it as the response status with reason as
	// the body; a native QUIC connection is closed with reason (401 and
	// 403 as UnauthorizedSessionError, others as InternalSessionError).
	Reject(status int, reason string)
}

// setupResponseWriter is the SetupResponseWriter the Server hands to
// handlers.
type setupResponseWriter struct {
	server *Server
	http   http.ResponseWriter // WebTransport and WebSocket
	ws     []wsOffer           // WebSocket: the subprotocols offered that we speak
	conn   quic.Connection     // native QUIC
	ver    Version             // native QUIC: negotiated by ALPN

	mu       sync.Mutex
	answered bool
	rejected bool
	sess     *Session
}

func (w *setupResponseWriter) answer() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.answered {
		return false
	}
	w.answered = true
	return true
}

func (w *setupResponseWriter) Reject(status int, reason string) {
	w.reject(status, reason, &w.server.stats.rejected)
}

// reject refuses the session, counting it in count, unless it was answered
// already.
func (w *setupResponseWriter) reject(status int, reason string, count *atomic.Uint64) {
	if !w.answer() {
		return
	}
	count.Add(1)
	w.mu.Lock()
	w.rejected = true
	w.mu.Unlock()
	if w.http != nil {
		http.Error(w.http, reason, status)
		return
	}
	code := InternalSessionError
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		code = UnauthorizedSessionError
	}
	w.conn.CloseWithError(quic.ApplicationErrorCode(code), fmt.Sprintf("%d %s", status, reason))
}
