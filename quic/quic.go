// Package quic defines the transport that gomoq sessions run on: a QUIC
// connection with bidirectional and unidirectional streams and datagrams.
//
// Both a native QUIC connection (quic-go) and a WebTransport session
// (see package github.com/gomoq/gomoq/webtransport) satisfy [Connection], so
// the MoQ session layer is written once for both.
//
// Stream and connection errors are reported with quic-go's error types
// ([StreamError], [ApplicationError]) whichever transport is used: adapters
// convert their own errors at the boundary, so callers can use errors.As with
// one set of types.
package quic

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Config is quic-go's QUIC configuration.
type Config = quicgo.Config

// StreamID is a QUIC stream ID.
type StreamID = quicgo.StreamID

// StreamErrorCode is the application error code carried by RESET_STREAM and
// STOP_SENDING.
type StreamErrorCode = quicgo.StreamErrorCode

// ApplicationErrorCode is the application error code carried by
// CONNECTION_CLOSE (or CLOSE_WEBTRANSPORT_SESSION).
type ApplicationErrorCode = quicgo.ApplicationErrorCode

// StreamError is returned by stream reads and writes after the stream was
// reset or stopped, locally or by the peer.
type StreamError = quicgo.StreamError

// ApplicationError is returned by every operation on a connection that was
// closed with an application error code, locally or by the peer.
type ApplicationError = quicgo.ApplicationError

// SendStream is the sending half of a stream.
type SendStream interface {
	io.Writer
	// Close finishes the stream (FIN) after the data written so far.
	Close() error
	// CancelWrite abandons the stream with RESET_STREAM.
	CancelWrite(StreamErrorCode)
	StreamID() StreamID
	SetWriteDeadline(time.Time) error
	// Context is cancelled when the sending side is closed or cancelled.
	Context() context.Context
}

// ReceiveStream is the receiving half of a stream.
type ReceiveStream interface {
	io.Reader
	// CancelRead asks the peer to stop sending with STOP_SENDING.
	CancelRead(StreamErrorCode)
	StreamID() StreamID
	SetReadDeadline(time.Time) error
}

// Stream is a bidirectional stream.
type Stream interface {
	SendStream
	ReceiveStream
	SetDeadline(time.Time) error
}

// ConnectionState describes an established connection.
type ConnectionState struct {
	// TLS is the TLS state of the underlying QUIC connection.
	TLS tls.ConnectionState
	// Protocol is the negotiated application protocol: the TLS ALPN on a
	// native QUIC connection, the WT-Protocol on a WebTransport session
	// (empty when none was negotiated).
	Protocol string
	// WebTransport reports whether the connection is a WebTransport session.
	WebTransport bool
	// SupportsDatagrams reports whether both ends negotiated datagrams.
	SupportsDatagrams bool
}

// Connection is a QUIC connection or a WebTransport session.
type Connection interface {
	AcceptStream(context.Context) (Stream, error)
	AcceptUniStream(context.Context) (ReceiveStream, error)
	OpenStream() (Stream, error)
	OpenStreamSync(context.Context) (Stream, error)
	OpenUniStream() (SendStream, error)
	OpenUniStreamSync(context.Context) (SendStream, error)
	SendDatagram([]byte) error
	ReceiveDatagram(context.Context) ([]byte, error)
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// CloseWithError closes the connection with an application error code.
	CloseWithError(ApplicationErrorCode, string) error
	// Context is cancelled when the connection is closed.
	Context() context.Context
	ConnectionState() ConnectionState
}

// Listener accepts QUIC connections.
type Listener interface {
	Accept(context.Context) (Connection, error)
	Addr() net.Addr
	Close() error
}

// ListenAddrFunc creates a Listener on a UDP address.
type ListenAddrFunc func(addr string, tlsConf *tls.Config, conf *Config) (Listener, error)

// ListenAddr listens for QUIC connections on the UDP address addr with
// quic-go. It accepts 0-RTT connections when conf.Allow0RTT is set.
// It is the default ListenAddrFunc.
func ListenAddr(addr string, tlsConf *tls.Config, conf *Config) (Listener, error) {
	ln, err := quicgo.ListenAddrEarly(addr, tlsConf, conf)
	if err != nil {
		return nil, err
	}
	return listener{ln}, nil
}

// DialAddr dials a native QUIC connection with quic-go.
func DialAddr(ctx context.Context, addr string, tlsConf *tls.Config, conf *Config) (Connection, error) {
	c, err := quicgo.DialAddr(ctx, addr, tlsConf, conf)
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// WrapListener returns the Listener of a quic-go listener, for example one
// made with a quic-go Transport the caller owns (and closes, with its
// socket, when it wants).
func WrapListener(ln *quicgo.EarlyListener) Listener { return listener{ln} }

type listener struct{ ln *quicgo.EarlyListener }

func (l listener) Accept(ctx context.Context) (Connection, error) {
	c, err := l.ln.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

func (l listener) Addr() net.Addr { return l.ln.Addr() }
func (l listener) Close() error   { return l.ln.Close() }

// ConnectionStats are a QUIC connection's path statistics (round-trip
// times, bytes and packets), as quic-go reports them.
type ConnectionStats = quicgo.ConnectionStats

// StatsReporter is implemented by the Connections that run on a QUIC
// connection of their own (native QUIC, WebTransport): ConnectionStats
// reports that connection's statistics.
type StatsReporter interface {
	ConnectionStats() ConnectionStats
}

// Wrap returns the Connection of a quic-go connection.
func Wrap(c *quicgo.Conn) Connection { return conn{c} }

// QUICGoConn returns the quic-go connection behind a Connection made by this
// package, if it is one.
func QUICGoConn(c Connection) (*quicgo.Conn, bool) {
	cc, ok := c.(conn)
	if !ok {
		return nil, false
	}
	return cc.Conn, true
}

// conn adapts *quicgo.Conn. Its streams satisfy the interfaces directly.
type conn struct{ *quicgo.Conn }

func (c conn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := c.Conn.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c conn) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	s, err := c.Conn.AcceptUniStream(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c conn) OpenStream() (Stream, error) {
	s, err := c.Conn.OpenStream()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c conn) OpenStreamSync(ctx context.Context) (Stream, error) {
	s, err := c.Conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c conn) OpenUniStream() (SendStream, error) {
	s, err := c.Conn.OpenUniStream()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c conn) OpenUniStreamSync(ctx context.Context) (SendStream, error) {
	s, err := c.Conn.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c conn) ConnectionState() ConnectionState {
	st := c.Conn.ConnectionState()
	return ConnectionState{
		TLS:               st.TLS,
		Protocol:          st.TLS.NegotiatedProtocol,
		SupportsDatagrams: st.SupportsDatagrams.Local && st.SupportsDatagrams.Remote,
	}
}
