package moqt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gomoq/gomoq/quic"
)

// memConn is an in-memory quic.Connection whose incoming streams carry
// given bytes and whose outgoing streams discard what is written. It lets
// a fuzz target drive the session layer without sockets.
type memConn struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	bidi   chan quic.Stream
	uni    chan quic.ReceiveStream
	proto  string
	// accepted gets a value for every stream the session accepted.
	accepted chan struct{}
}

func newMemConn(proto string) *memConn {
	c := &memConn{bidi: make(chan quic.Stream, 64), uni: make(chan quic.ReceiveStream, 64), proto: proto, accepted: make(chan struct{}, 128)}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

var errMemClosed = &quic.ApplicationError{ErrorCode: 0, ErrorMessage: "closed"}

func (c *memConn) AcceptStream(ctx context.Context) (quic.Stream, error) {
	select {
	case s := <-c.bidi:
		c.accepted <- struct{}{}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, errMemClosed
	}
}

func (c *memConn) AcceptUniStream(ctx context.Context) (quic.ReceiveStream, error) {
	select {
	case s := <-c.uni:
		c.accepted <- struct{}{}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, errMemClosed
	}
}

func (c *memConn) OpenStream() (quic.Stream, error) { return c.OpenStreamSync(context.Background()) }
func (c *memConn) OpenStreamSync(context.Context) (quic.Stream, error) {
	if c.ctx.Err() != nil {
		return nil, errMemClosed
	}
	return newMemStream(nil), nil
}
func (c *memConn) OpenUniStream() (quic.SendStream, error) {
	return c.OpenUniStreamSync(context.Background())
}
func (c *memConn) OpenUniStreamSync(context.Context) (quic.SendStream, error) {
	if c.ctx.Err() != nil {
		return nil, errMemClosed
	}
	return newMemStream(nil), nil
}
func (c *memConn) SendDatagram([]byte) error { return nil }
func (c *memConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (c *memConn) LocalAddr() net.Addr  { return &net.UDPAddr{} }
func (c *memConn) RemoteAddr() net.Addr { return &net.UDPAddr{} }
func (c *memConn) CloseWithError(code quic.ApplicationErrorCode, msg string) error {
	c.cancel(&quic.ApplicationError{ErrorCode: code, ErrorMessage: msg})
	return nil
}
func (c *memConn) Context() context.Context { return c.ctx }
func (c *memConn) ConnectionState() quic.ConnectionState {
	return quic.ConnectionState{TLS: tls.ConnectionState{NegotiatedProtocol: c.proto}, Protocol: c.proto}
}

// memStream reads from a fixed buffer (then EOF) and discards writes. A
// stream with no buffer (an outgoing one) blocks reads until cancelled.
type memStream struct {
	r        *bytes.Reader
	mu       sync.Mutex
	canceled chan struct{}
	once     sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
}

func newMemStream(data []byte) *memStream {
	s := &memStream{canceled: make(chan struct{})}
	if data != nil {
		s.r = bytes.NewReader(data)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

func (s *memStream) Read(p []byte) (int, error) {
	if s.r == nil {
		<-s.canceled
		return 0, &quic.StreamError{ErrorCode: 0}
	}
	select {
	case <-s.canceled:
		return 0, &quic.StreamError{ErrorCode: 0}
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}
func (s *memStream) Write(p []byte) (int, error) {
	select {
	case <-s.canceled:
		return 0, &quic.StreamError{ErrorCode: 0}
	default:
		return len(p), nil
	}
}
func (s *memStream) stop() {
	s.once.Do(func() { close(s.canceled) })
	s.cancel()
}
func (s *memStream) Close() error                     { s.cancel(); return nil }
func (s *memStream) CancelWrite(quic.StreamErrorCode) { s.stop() }
func (s *memStream) CancelRead(quic.StreamErrorCode)  { s.stop() }
func (s *memStream) StreamID() quic.StreamID          { return 0 }
func (s *memStream) SetWriteDeadline(time.Time) error { return nil }
func (s *memStream) SetReadDeadline(time.Time) error  { return nil }
func (s *memStream) SetDeadline(time.Time) error      { return nil }
func (s *memStream) Context() context.Context         { return s.ctx }

var _ io.Reader = (*memStream)(nil)
var _ = errors.New
