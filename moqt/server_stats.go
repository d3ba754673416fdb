package moqt

import "sync/atomic"

// ServerStats counts the setup requests (and connections) a Server ended
// before a session was established, by why. Every counter only grows.
type ServerStats struct {
	// SetupTimeouts counts connections closed with SetupTimeoutError: a
	// native moq-lite-05 client that sent no SETUP, or an HTTP/3
	// connection that carried no WebTransport session, within
	// Config.SetupTimeout.
	SetupTimeouts uint64
	// VersionMismatches counts clients that offered no version the server
	// accepts: an unsupported native ALPN (moq-00 included), a WebTransport
	// request whose WT-Available-Protocols has none, or a WebSocket request
	// whose Sec-WebSocket-Protocol has none.
	VersionMismatches uint64
	// MalformedSetups counts malformed setups: a native client's SETUP
	// that could not be read or had a bad path, or an HTTP request to
	// ServeWebTransport (ServeWebSocket) that is not a WebTransport request
	// (a WebSocket upgrade).
	MalformedSetups uint64
	// OriginRefusals counts WebTransport and WebSocket requests refused
	// (403) by Config.CheckHTTPOrigin or the same-origin check.
	OriginRefusals uint64
	// Rejected counts setup requests the SetupHandler refused with
	// SetupResponseWriter.Reject (authorization refusals included).
	Rejected uint64
	// SessionLimit counts setup requests refused because Config.MaxSessions
	// sessions were open.
	SessionLimit uint64
	// ShuttingDown counts setup requests refused because the server was
	// closing or shutting down.
	ShuttingDown uint64
	// Unanswered counts setup requests the SetupHandler neither accepted
	// nor rejected.
	Unanswered uint64
	// UpgradeFailures counts accepted WebTransport and WebSocket requests
	// whose upgrade to a session failed.
	UpgradeFailures uint64
}

// serverStats are a Server's counters (ServerStats), updated with atomic
// adds.
type serverStats struct {
	setupTimeouts, versionMismatches, malformedSetups, originRefusals atomic.Uint64
	rejected, sessionLimit, shuttingDown, unanswered, upgradeFailures atomic.Uint64
}

// Stats returns the server's counters. It is safe to call at any time,
// concurrently with everything else.
func (s *Server) Stats() ServerStats {
	st := &s.stats
	return ServerStats{
		SetupTimeouts:     st.setupTimeouts.Load(),
		VersionMismatches: st.versionMismatches.Load(),
		MalformedSetups:   st.malformedSetups.Load(),
		OriginRefusals:    st.originRefusals.Load(),
		Rejected:          st.rejected.Load(),
		SessionLimit:      st.sessionLimit.Load(),
		ShuttingDown:      st.shuttingDown.Load(),
		Unanswered:        st.unanswered.Load(),
		UpgradeFailures:   st.upgradeFailures.Load(),
	}
}
