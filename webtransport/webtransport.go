// Package webtransport adapts webtransport-go sessions to the
// [quic.Connection] interface, so that MoQ sessions run unchanged over
// WebTransport, and dials WebTransport sessions for clients.
//
// Stream and session errors are converted to quic-go's [quic.StreamError] and
// [quic.ApplicationError], the types every gomoq transport reports.
package webtransport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gomoq/gomoq/quic"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"
)

// Wrap returns the quic.Connection of a WebTransport session.
func Wrap(s *wt.Session) quic.Connection { return &session{s: s} }

// Dial opens a WebTransport session to urlStr ("https://host:port/path"),
// offering protocols (in preference order) in WT-Available-Protocols.
// tlsConf and quicConf may be nil. The QUIC connection is closed when the
// session is.
func Dial(ctx context.Context, urlStr string, header http.Header, tlsConf *tls.Config, quicConf *quic.Config, protocols []string) (*http.Response, quic.Connection, error) {
	var qc *quic.Config
	if quicConf != nil {
		qc = quicConf.Clone()
	} else {
		qc = &quic.Config{}
	}
	qc.EnableDatagrams = true
	qc.EnableStreamResetPartialDelivery = true
	var tc *tls.Config
	if tlsConf != nil {
		tc = tlsConf.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.NextProtos = []string{http3.NextProtoH3}
	d := &wt.Transport{
		TLSClientConfig:      tc,
		QUICConfig:           qc,
		ApplicationProtocols: protocols,
	}
	defer d.Close()
	rsp, s, err := d.Dial(ctx, urlStr, header)
	if err != nil {
		return rsp, nil, convertErr(err)
	}
	return rsp, Wrap(s), nil
}

// convertErr maps webtransport-go's errors to quic-go's.
func convertErr(err error) error {
	if err == nil {
		return nil
	}
	var se *wt.StreamError
	if errors.As(err, &se) {
		return &quic.StreamError{ErrorCode: quic.StreamErrorCode(se.ErrorCode), Remote: se.Remote}
	}
	var sess *wt.SessionError
	if errors.As(err, &sess) {
		return &quic.ApplicationError{ErrorCode: quic.ApplicationErrorCode(sess.ErrorCode), Remote: sess.Remote, ErrorMessage: sess.Message}
	}
	return err
}

// wtCode clamps a stream error code to WebTransport's 32 bits.
func wtCode(c quic.StreamErrorCode) wt.StreamErrorCode {
	if c > 0xffffffff {
		return 0xffffffff
	}
	return wt.StreamErrorCode(c)
}

type session struct{ s *wt.Session }

func (c *session) AcceptStream(ctx context.Context) (quic.Stream, error) {
	s, err := c.s.AcceptStream(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return &stream{s}, nil
}

func (c *session) AcceptUniStream(ctx context.Context) (quic.ReceiveStream, error) {
	s, err := c.s.AcceptUniStream(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return &receiveStream{s}, nil
}

func (c *session) OpenStream() (quic.Stream, error) {
	s, err := c.s.OpenStream()
	if err != nil {
		return nil, convertErr(err)
	}
	return &stream{s}, nil
}

func (c *session) OpenStreamSync(ctx context.Context) (quic.Stream, error) {
	s, err := c.s.OpenStreamSync(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return &stream{s}, nil
}

func (c *session) OpenUniStream() (quic.SendStream, error) {
	s, err := c.s.OpenUniStream()
	if err != nil {
		return nil, convertErr(err)
	}
	return &sendStream{s}, nil
}

func (c *session) OpenUniStreamSync(ctx context.Context) (quic.SendStream, error) {
	s, err := c.s.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return &sendStream{s}, nil
}

func (c *session) SendDatagram(b []byte) error { return convertErr(c.s.SendDatagram(b)) }

func (c *session) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	b, err := c.s.ReceiveDatagram(ctx)
	return b, convertErr(err)
}

func (c *session) LocalAddr() net.Addr  { return c.s.LocalAddr() }
func (c *session) RemoteAddr() net.Addr { return c.s.RemoteAddr() }

func (c *session) CloseWithError(code quic.ApplicationErrorCode, msg string) error {
	if code > 0xffffffff {
		code = 0xffffffff
	}
	return convertErr(c.s.CloseWithError(wt.SessionErrorCode(code), msg))
}

func (c *session) Context() context.Context { return c.s.Context() }

func (c *session) ConnectionState() quic.ConnectionState {
	st := c.s.SessionState()
	return quic.ConnectionState{
		TLS:               st.ConnectionState.TLS,
		Protocol:          st.ApplicationProtocol,
		WebTransport:      true,
		SupportsDatagrams: true,
	}
}

type sendStream struct{ s *wt.SendStream }

func (s *sendStream) Write(b []byte) (int, error) {
	n, err := s.s.Write(b)
	return n, convertErr(err)
}
func (s *sendStream) Close() error                       { return convertErr(s.s.Close()) }
func (s *sendStream) CancelWrite(c quic.StreamErrorCode) { s.s.CancelWrite(wtCode(c)) }
func (s *sendStream) StreamID() quic.StreamID            { return s.s.StreamID() }
func (s *sendStream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }
func (s *sendStream) Context() context.Context           { return s.s.Context() }

type receiveStream struct{ s *wt.ReceiveStream }

func (s *receiveStream) Read(b []byte) (int, error) {
	n, err := s.s.Read(b)
	return n, convertErr(err)
}
func (s *receiveStream) CancelRead(c quic.StreamErrorCode) { s.s.CancelRead(wtCode(c)) }
func (s *receiveStream) StreamID() quic.StreamID           { return s.s.StreamID() }
func (s *receiveStream) SetReadDeadline(t time.Time) error { return s.s.SetReadDeadline(t) }

type stream struct{ s *wt.Stream }

func (s *stream) Write(b []byte) (int, error) {
	n, err := s.s.Write(b)
	return n, convertErr(err)
}
func (s *stream) Read(b []byte) (int, error) {
	n, err := s.s.Read(b)
	return n, convertErr(err)
}
func (s *stream) Close() error                       { return convertErr(s.s.Close()) }
func (s *stream) CancelWrite(c quic.StreamErrorCode) { s.s.CancelWrite(wtCode(c)) }
func (s *stream) CancelRead(c quic.StreamErrorCode)  { s.s.CancelRead(wtCode(c)) }
func (s *stream) StreamID() quic.StreamID            { return s.s.StreamID() }
func (s *stream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }
func (s *stream) SetReadDeadline(t time.Time) error  { return s.s.SetReadDeadline(t) }
func (s *stream) SetDeadline(t time.Time) error      { return s.s.SetDeadline(t) }
func (s *stream) Context() context.Context           { return s.s.Context() }
