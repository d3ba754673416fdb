package qmux

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/gomoq/gomoq/quic"
)

// Stream IDs as in QUIC: bit 0 is the initiator (1 = server), bit 1 the
// direction (1 = unidirectional).
func streamID(index uint64, server, uni bool) quicgo.StreamID {
	id := index << 2
	if server {
		id |= 1
	}
	if uni {
		id |= 2
	}
	return quicgo.StreamID(id)
}

func isUni(id quicgo.StreamID) bool          { return id&2 != 0 }
func byServer(id quicgo.StreamID) bool       { return id&1 != 0 }
func dirIndex(id quicgo.StreamID) int        { return int(id>>1) & 1 }
func streamIndex(id quicgo.StreamID) uint64  { return uint64(id) >> 2 }
func (c *Conn) ours(id quicgo.StreamID) bool { return byServer(id) == c.isServer }

// deadlineError is returned by reads and writes past their deadline.
type deadlineError struct{}

func (deadlineError) Error() string        { return "qmux: deadline exceeded" }
func (deadlineError) Timeout() bool        { return true }
func (deadlineError) Temporary() bool      { return true }
func (deadlineError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

var errWriteAfterClose = errors.New("qmux: write on a closed stream")

// stream is one QMux stream. Its state is guarded by its Conn's mu, which
// is never held while blocking.
type stream struct {
	c       *Conn
	id      quicgo.StreamID
	canSend bool
	canRecv bool

	// Send side.
	sbuf     []byte // data written, not yet framed, from spos
	spos     int
	soff     uint64 // bytes framed (the send offset)
	smax     uint64 // the peer's MAX_STREAM_DATA
	finReq   bool   // Close was called
	sendDone bool   // FIN or RESET_STREAM queued: nothing more to send
	sErr     error
	queued   bool // in c.active
	blocked  bool // in c.blocked, waiting for connection credit
	wDead    time.Time
	wSig     chan struct{}
	sctx     context.Context
	scancel  context.CancelFunc

	// Receive side.
	rbuf     []byte // data received, not yet read, from rpos
	rpos     int
	roff     uint64 // bytes received
	rmax     uint64 // our MAX_STREAM_DATA
	rwin     uint64
	read     uint64 // bytes read by the application
	rfin     bool   // FIN or RESET_STREAM received: roff is final
	recvDone bool   // the application saw the end, or the stream was reset
	rErr     error
	rDead    time.Time
	rSig     chan struct{}
}

func newStream(c *Conn, id quicgo.StreamID) *stream {
	s := &stream{c: c, id: id, wSig: make(chan struct{}, 1), rSig: make(chan struct{}, 1)}
	uni := isUni(id)
	ours := c.ours(id)
	s.canSend = !uni || ours
	s.canRecv = !uni || !ours
	if s.canSend {
		s.sctx, s.scancel = context.WithCancel(c.ctx)
		switch {
		case uni:
			s.smax = c.peer.streamUni
		case ours:
			s.smax = c.peer.streamBidiRemot
		default:
			s.smax = c.peer.streamBidiLocal
		}
	} else {
		s.sendDone = true
	}
	if s.canRecv {
		switch {
		case uni:
			s.rwin = c.local.streamUni
		case ours:
			s.rwin = c.local.streamBidiLocal
		default:
			s.rwin = c.local.streamBidiRemot
		}
		s.rmax = s.rwin
	} else {
		s.recvDone = true
	}
	return s
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wait blocks until ch is signalled, the deadline passes or the
// connection closes. c.mu is not held.
func wait(ch chan struct{}, dl time.Time) error {
	if dl.IsZero() {
		<-ch
		return nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return deadlineError{}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return deadlineError{}
	}
}

// StreamID returns the stream's ID.
func (s *stream) StreamID() quic.StreamID { return s.id }

// Context is cancelled when the send side is closed, reset or stopped.
func (s *stream) Context() context.Context {
	if s.sctx == nil {
		return s.c.ctx
	}
	return s.sctx
}

// Write buffers p for sending, blocking while the stream's buffer is full.
func (s *stream) Write(p []byte) (int, error) {
	c := s.c
	n := 0
	c.mu.Lock()
	for {
		switch {
		case s.sErr != nil:
			err := s.sErr
			c.mu.Unlock()
			return n, err
		case s.finReq:
			c.mu.Unlock()
			return n, errWriteAfterClose
		}
		if len(p) == 0 {
			c.mu.Unlock()
			return n, nil
		}
		if s.spos > 0 && s.spos == len(s.sbuf) {
			s.sbuf, s.spos = s.sbuf[:0], 0
		}
		if space := sendBufferSize - (len(s.sbuf) - s.spos); space > 0 {
			k := min(space, len(p))
			if s.spos > 0 && len(s.sbuf)+k > cap(s.sbuf) {
				// Move the unsent tail down before growing.
				m := copy(s.sbuf, s.sbuf[s.spos:])
				s.sbuf, s.spos = s.sbuf[:m], 0
			}
			s.sbuf = append(s.sbuf, p[:k]...)
			p, n = p[k:], n+k
			c.schedule(s)
			continue
		}
		dl := s.wDead
		c.mu.Unlock()
		if err := wait(s.wSig, dl); err != nil {
			return n, err
		}
		c.mu.Lock()
	}
}

// Close ends the send side with FIN once the buffered data is sent.
func (s *stream) Close() error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.canSend {
		return errors.New("qmux: Close on a receive-only stream")
	}
	if s.sErr != nil || s.finReq {
		return nil
	}
	s.finReq = true
	s.scancel()
	c.schedule(s)
	return nil
}

// CancelWrite abandons the send side with RESET_STREAM.
func (s *stream) CancelWrite(code quic.StreamErrorCode) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s.resetSend(&quicgo.StreamError{StreamID: s.id, ErrorCode: code}, code)
}

// resetSend drops the unsent data and queues RESET_STREAM. c.mu is held.
func (s *stream) resetSend(err error, code quic.StreamErrorCode) {
	if !s.canSend || s.sendDone || s.sErr != nil {
		return
	}
	s.sErr = err
	s.sbuf, s.spos = nil, 0
	s.sendDone = true
	s.scancel()
	notify(s.wSig)
	s.c.queue(frame{typ: typeResetStream, id: uint64(s.id), code: uint64(code), finalSize: s.soff})
	s.c.maybeDone(s)
}

// SetWriteDeadline sets the deadline of Write.
func (s *stream) SetWriteDeadline(t time.Time) error {
	s.c.mu.Lock()
	s.wDead = t
	s.c.mu.Unlock()
	notify(s.wSig)
	return nil
}

// Read reads received data; it returns io.EOF after the FIN.
func (s *stream) Read(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	for {
		if avail := len(s.rbuf) - s.rpos; avail > 0 && s.rErr == nil {
			if len(p) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			n := copy(p, s.rbuf[s.rpos:])
			s.rpos += n
			if s.rpos == len(s.rbuf) {
				s.rbuf, s.rpos = s.rbuf[:0], 0
			}
			s.read += uint64(n)
			c.consumed(s, uint64(n))
			c.mu.Unlock()
			return n, nil
		}
		if s.rErr != nil {
			err := s.rErr
			c.mu.Unlock()
			return 0, err
		}
		if s.rfin {
			if !s.recvDone {
				s.recvDone = true
				c.maybeDone(s)
			}
			c.mu.Unlock()
			return 0, io.EOF
		}
		dl := s.rDead
		c.mu.Unlock()
		if err := wait(s.rSig, dl); err != nil {
			return 0, err
		}
		c.mu.Lock()
	}
}

// CancelRead asks the peer to stop sending with STOP_SENDING and discards
// what is buffered.
func (s *stream) CancelRead(code quic.StreamErrorCode) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.canRecv || s.rErr != nil || s.recvDone {
		return
	}
	s.rErr = &quicgo.StreamError{StreamID: s.id, ErrorCode: code}
	c.discard(s)
	notify(s.rSig)
	if !s.rfin {
		c.queue(frame{typ: typeStopSending, id: uint64(s.id), code: uint64(code)})
	} else {
		s.recvDone = true
		c.maybeDone(s)
	}
}

// SetReadDeadline sets the deadline of Read.
func (s *stream) SetReadDeadline(t time.Time) error {
	s.c.mu.Lock()
	s.rDead = t
	s.c.mu.Unlock()
	notify(s.rSig)
	return nil
}

// SetDeadline sets both deadlines.
func (s *stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// closeAll fails both sides with the connection's close error.
func (s *stream) closeAll(err error) {
	c := s.c
	c.mu.Lock()
	if s.sErr == nil {
		s.sErr = err
	}
	if s.rErr == nil {
		s.rErr = err
	}
	s.sbuf, s.rbuf = nil, nil
	c.mu.Unlock()
	if s.scancel != nil {
		s.scancel()
	}
	notify(s.wSig)
	notify(s.rSig)
}

// hasWork reports whether the writer can frame something for s now.
// c.mu is held.
func (s *stream) hasWork(c *Conn) bool {
	if s.sendDone || s.sErr != nil {
		return false
	}
	if len(s.sbuf)-s.spos > 0 {
		return s.soff < s.smax && c.sent < c.sendMax
	}
	return s.finReq
}

// frameInto appends one STREAM frame of at most room bytes. c.mu is held.
func (s *stream) frameInto(b []byte, room int, c *Conn) []byte {
	pending := len(s.sbuf) - s.spos
	n := 0
	if pending > 0 {
		over := streamFrameOverhead(uint64(s.id), s.soff)
		n = min(pending, maxStreamPayload, room-over)
		n = int(min(uint64(n), s.smax-s.soff, c.sendMax-c.sent))
		if n <= 0 {
			return b
		}
	}
	fin := s.finReq && n == pending
	f := frame{typ: typeStreamBase, id: uint64(s.id), offset: s.soff, data: s.sbuf[s.spos : s.spos+n], fin: fin}
	b = appendFrame(b, &f)
	s.spos += n
	s.soff += uint64(n)
	c.sent += uint64(n)
	if s.spos == len(s.sbuf) {
		s.sbuf, s.spos = s.sbuf[:0], 0
	}
	if n > 0 {
		notify(s.wSig)
	}
	if fin {
		s.sendDone = true
		s.sbuf = nil
		c.maybeDone(s)
	}
	return b
}
