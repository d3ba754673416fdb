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
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gomoq/gomoq/quic"
	quicgo "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"
)

// Wrap returns the quic.Connection of a WebTransport session.
func Wrap(s *wt.Session) quic.Connection { return wrap(s, nil) }

// WrapConn is Wrap for a session whose QUIC connection is known: a session
// ended by the connection's close then reports that close's reason.
func WrapConn(s *wt.Session, qconn *quicgo.Conn) quic.Connection { return wrap(s, qconn) }

// wrap adapts s; qconn, when known, is the QUIC connection under it, whose
// close reason explains a session that ended without a WebTransport close.
func wrap(s *wt.Session, qconn *quicgo.Conn) *session {
	c := &session{s: s, qconn: qconn}
	var cancel context.CancelCauseFunc
	c.ctx, cancel = context.WithCancelCause(context.Background())
	context.AfterFunc(s.Context(), func() { cancel(closeReason(s, qconn)) })
	return c
}

// closeReason finds why a session ended: the WebTransport close it got or
// sent, else the QUIC connection's close. A close with no error (QUIC code 0
// or HTTP/3's H3_NO_ERROR) reads as a WebTransport close with code 0.
func closeReason(s *wt.Session, qconn *quicgo.Conn) error {
	// Every operation on a closed session returns its close error.
	_, err := s.OpenUniStream()
	var se *wt.SessionError
	if errors.As(err, &se) {
		return convertErr(err)
	}
	if qconn != nil {
		// The session may end a moment before its connection does.
		select {
		case <-qconn.Context().Done():
			err = context.Cause(qconn.Context())
		case <-time.After(200 * time.Millisecond):
		}
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && (ae.ErrorCode == 0 || ae.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError)) {
		return &quic.ApplicationError{ErrorCode: 0, Remote: ae.Remote, ErrorMessage: ae.ErrorMessage}
	}
	// A connection closed with no error, as HTTP/3 reports it.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if he, ok := e.(*http3.Error); ok && (he.ErrorCode == 0 || he.ErrorCode == http3.ErrCodeNoError) {
			return &quic.ApplicationError{ErrorCode: 0, Remote: he.Remote, ErrorMessage: he.ErrorMessage}
		}
	}
	if err == nil {
		return context.Canceled
	}
	return convertErr(err)
}

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
	u, err := url.Parse(urlStr)
	if err != nil {
		return nil, nil, err
	}
	// The QUIC connection is dialed here and given to NewClientConn, not
	// left to wt.Transport.Dial, which closes it with H3_NO_ERROR from a
	// goroutine of its own once the session ends: the close capsule, and
	// with it the session's code, was then often lost, and a process
	// exiting right after Close might not send the connection's close at
	// all (its peer held the session until its idle timeout).
	qconn, err := quicgo.DialAddrEarly(ctx, u.Host, tc, qc)
	if err != nil {
		return nil, nil, err
	}
	d := &wt.Transport{ApplicationProtocols: protocols}
	defer d.Close()
	cc, err := d.NewClientConn(qconn)
	if err != nil {
		qconn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
		return nil, nil, err
	}
	rsp, s, err := cc.Dial(ctx, urlStr, header)
	if err != nil {
		code, msg := quic.ApplicationErrorCode(http3.ErrCodeNoError), ""
		var rn *wt.RequirementsNotMetError
		if errors.As(err, &rn) {
			code, msg = wt.WTRequirementsNotMetErrorCode, rn.Message
		}
		qconn.CloseWithError(code, msg)
		return rsp, nil, convertErr(err)
	}
	c := wrap(s, qconn)
	c.ownsConn = true
	context.AfterFunc(s.Context(), func() {
		if !c.closing.Load() {
			// The peer ended the session: the connection goes with it.
			qconn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
		}
	})
	return rsp, c, nil
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

type session struct {
	s        *wt.Session
	qconn    *quicgo.Conn    // the QUIC connection under it, when known
	ctx      context.Context // cancelled with the close reason
	ownsConn bool            // dialed by Dial: the connection is the session's
	closing  atomic.Bool     // CloseWithError was called
}

// ConnectionStats reports the statistics of the QUIC connection the session
// runs on (zero when it is not known).
func (c *session) ConnectionStats() quic.ConnectionStats {
	if c.qconn == nil {
		return quic.ConnectionStats{}
	}
	return c.qconn.ConnectionStats()
}

func (c *session) AcceptStream(ctx context.Context) (quic.Stream, error) {
	s, err := c.s.AcceptStream(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return c.newStream(s), nil
}

func (c *session) newStream(s *wt.Stream) *stream {
	return &stream{s: s, stop: unblockOnClose(c.ctx, s)}
}

func (c *session) AcceptUniStream(ctx context.Context) (quic.ReceiveStream, error) {
	s, err := c.s.AcceptUniStream(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return &receiveStream{s: s, stop: unblockOnClose(c.ctx, s)}, nil
}

func (c *session) OpenStream() (quic.Stream, error) {
	s, err := c.s.OpenStream()
	if err != nil {
		return nil, convertErr(err)
	}
	return c.newStream(s), nil
}

func (c *session) OpenStreamSync(ctx context.Context) (quic.Stream, error) {
	s, err := c.s.OpenStreamSync(ctx)
	if err != nil {
		return nil, convertErr(err)
	}
	return c.newStream(s), nil
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
	c.closing.Store(true)
	err := convertErr(c.s.CloseWithError(wt.SessionErrorCode(code), msg))
	if c.ownsConn {
		// The connection carries the code too (H3_NO_ERROR for 0): the
		// close capsule may not get out before the connection's close,
		// and a peer that misses it reads the code from the connection
		// (HTTP/3 treats codes it does not know as H3_NO_ERROR). This
		// returns once the connection's close is sent.
		qcode := code
		if code == 0 {
			qcode = quic.ApplicationErrorCode(http3.ErrCodeNoError)
		}
		c.qconn.CloseWithError(qcode, msg)
	}
	return err
}

// Context is cancelled when the session ends; its cause is the close
// reason as a *quic.ApplicationError when there was one.
func (c *session) Context() context.Context { return c.ctx }

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

// readUnblocker is what unblockOnClose needs of a stream's receive side.
type readUnblocker interface{ SetReadDeadline(time.Time) error }

// unblockOnClose makes a Read blocked on the stream return once the session
// has ended: webtransport-go v0.13.0 keeps a Read of a stream reset with
// WT_SESSION_GONE waiting for a session close that does not always reach
// the streams already accepted. The returned stop func releases the hook.
func unblockOnClose(ctx context.Context, r readUnblocker) func() bool {
	return context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Now()) })
}

type receiveStream struct {
	s    *wt.ReceiveStream
	stop func() bool
}

func (s *receiveStream) Read(b []byte) (int, error) {
	n, err := s.s.Read(b)
	if err != nil {
		s.stop()
	}
	return n, convertErr(err)
}

// CancelRead also expires the read deadline: webtransport-go's CancelRead
// does not wake a Read waiting for the session to close.
func (s *receiveStream) CancelRead(c quic.StreamErrorCode) {
	s.s.CancelRead(wtCode(c))
	s.s.SetReadDeadline(time.Now())
}
func (s *receiveStream) StreamID() quic.StreamID           { return s.s.StreamID() }
func (s *receiveStream) SetReadDeadline(t time.Time) error { return s.s.SetReadDeadline(t) }

type stream struct {
	s    *wt.Stream
	stop func() bool
}

func (s *stream) Write(b []byte) (int, error) {
	n, err := s.s.Write(b)
	return n, convertErr(err)
}
func (s *stream) Read(b []byte) (int, error) {
	n, err := s.s.Read(b)
	if err != nil {
		s.stop()
	}
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
