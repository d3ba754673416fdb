// Package quictest holds test helpers shared by the packages' tests.
package quictest

import (
	"crypto/tls"
	"net"
	"testing"

	quicgo "github.com/quic-go/quic-go"

	"github.com/gomoq/gomoq/quic"
)

// ListenLoopback listens for QUIC on a loopback port with a quic-go
// Transport of its own; closeTransport closes its socket at once, so that
// no quic-go goroutine outlives the test (a Transport made by ListenAddr
// keeps its socket until its last connection finished closing).
func ListenLoopback(t testing.TB, tc *tls.Config, qc *quicgo.Config) (ln quic.Listener, closeTransport func()) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quicgo.Transport{Conn: udp}
	l, err := tr.ListenEarly(tc, qc)
	if err != nil {
		t.Fatal(err)
	}
	return quic.WrapListener(l), func() { tr.Close(); udp.Close() }
}
