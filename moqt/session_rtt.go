package moqt

import (
	"time"

	"github.com/gomoq/gomoq/quic"
)

// RTT returns the smoothed round-trip time of the session's QUIC
// connection, and whether it is known: it is for native QUIC and
// WebTransport (when the connection under the session is known), not for
// QMux over WebSocket, whose transport does not measure it.
func (s *Session) RTT() (time.Duration, bool) {
	r, ok := s.conn.(quic.StatsReporter)
	if !ok {
		return 0, false
	}
	rtt := r.ConnectionStats().SmoothedRTT
	return rtt, rtt > 0
}
