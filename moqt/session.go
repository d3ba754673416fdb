package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
)

// Session is an established moq-lite session over a QUIC connection or a
// WebTransport session. Either side may publish (through the TrackMux given
// when the session was established) and subscribe (Subscribe,
// AcceptAnnounce).
//
// Paths given to Subscribe and AcceptAnnounce name broadcasts in the peer's
// namespace. The peer sees our TrackMux under the session's root: the URL
// path a client connected to on the server side, "/" on the client side.
type Session struct {
	conn    quic.Connection
	version wire.Version
	server  bool
	root    string // clean path of our mux the peer sees as its "/"
	mux     *TrackMux
	canSub  func(BroadcastPath) bool // nil: the peer may subscribe to everything
	// canDiscover reports whether the peer may ask for the announcements
	// under a prefix (nil: any).
	canDiscover func(BroadcastPath) bool
	config      *Config
	logger      *slog.Logger
	origin      uint64 // our hop ID

	ctx    context.Context
	cancel context.CancelCauseFunc

	wg       sync.WaitGroup // every goroutine the session started
	wgMu     sync.Mutex     // orders goFunc's Add against wait's Wait
	wgWaited bool           // wait was called: goFunc no longer counts

	closeOnce sync.Once
	closeErr  error

	mu              sync.Mutex
	nextSubID       uint64
	subscriptions   map[uint64]*TrackReader // ours, by ID
	served          int                     // peer's subscriptions we serve
	announceStreams int                     // peer's announce streams we serve
	goingAway       bool                    // we sent GOAWAY
	peerGoingAway   bool                    // the peer sent GOAWAY
	peerSetup       *wire.Setup

	uniCredit int           // see sessionParams
	idle      chan struct{} // signalled when served drops to 0
	uni       uniOrder      // the peer's unidirectional streams, in order
	sched     sendScheduler // orders the group streams' writes by priority

	setup wire.Setup // what start sends on moq-lite-05

	ietf ietfState // IETF MoQ Transport sessions only
}

type sessionParams struct {
	conn    quic.Connection
	version wire.Version
	server  bool
	root    string
	mux     *TrackMux
	canSub  func(BroadcastPath) bool
	canDisc func(BroadcastPath) bool
	config  *Config
	logger  *slog.Logger
	origin  uint64
	// uniCredit is how many unidirectional streams the peer may have open
	// towards us at once (our MaxIncomingUniStreams).
	uniCredit int
	// setup is sent on moq-lite-05 (Origin is filled in).
	setup     wire.Setup
	peerSetup *wire.Setup

	// ietf is the negotiated IETF MoQ Transport draft (zero for
	// moq-lite, whose version is then version).
	ietf ietf.Version
	// ietfSetup holds extra options for our IETF SETUP (the client's PATH
	// and AUTHORITY on native QUIC).
	ietfSetup ietf.KVPs
	// peerCtrl is the peer's IETF control stream when the server read its
	// SETUP before routing the session (native QUIC).
	peerCtrl      *ietf.Reader
	peerIETFSetup *ietf.Setup
}

func newSession(p sessionParams) *Session {
	if p.mux == nil {
		p.mux = DefaultTrackMux
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		conn:          p.conn,
		version:       p.version,
		server:        p.server,
		root:          p.root,
		mux:           p.mux,
		canSub:        p.canSub,
		canDiscover:   p.canDisc,
		config:        p.config,
		origin:        p.origin,
		subscriptions: make(map[uint64]*TrackReader),
		peerSetup:     p.peerSetup,
		idle:          make(chan struct{}, 1),
		uniCredit:     p.uniCredit,
	}
	if s.uniCredit <= 0 {
		s.uniCredit = 100 // quic-go's default
	}
	if p.ietf != 0 {
		s.initIETF(p)
	}
	s.logger = p.logger.With("remote", p.conn.RemoteAddr().String(), "version", s.Version().String())
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	// A transport that dies on its own ends the session.
	stop := context.AfterFunc(p.conn.Context(), func() {
		err := context.Cause(p.conn.Context())
		if se := sessionErrorFrom(err); se != nil {
			s.closeWith(se, false)
			return
		}
		s.closeWith(&SessionError{Code: InternalSessionError, Reason: fmt.Sprint(err), Remote: true}, false)
	})
	context.AfterFunc(s.ctx, func() { stop() })
	s.setup = p.setup
	return s
}

// start runs the session: it sends SETUP (moq-lite-05) and serves the
// peer's streams. The owner registers the session first, so that it can
// track (and close) everything the session does.
func (s *Session) start() {
	if s.ietf.v != 0 {
		s.startIETF()
	} else if s.version >= wire.Lite05 {
		setup := s.setup
		setup.Origin = s.origin
		s.goFunc(func() { s.sendSetup(setup) })
	}
	s.goFunc(s.acceptBidi)
	s.goFunc(s.acceptUni)
}

// goFunc runs f on a goroutine that wait waits for. A goroutine started
// once wait was called (a call into a session that already ended, such as
// AcceptAnnounce racing its end) is not counted: a WaitGroup may not grow
// from zero while it is waited on. The session is over by then, so f meets
// closed streams and returns.
func (s *Session) goFunc(f func()) {
	s.wgMu.Lock()
	counted := !s.wgWaited
	if counted {
		s.wg.Add(1)
	}
	s.wgMu.Unlock()
	if !counted {
		go f()
		return
	}
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Version returns the negotiated version: a moq-lite version, or an IETF
// MoQ Transport draft (Version.IsIETF).
func (s *Session) Version() Version {
	if s.ietf.v != 0 {
		return Version(s.ietf.v)
	}
	return Version(s.version)
}

// Context returns a context cancelled when the session ends; its cause
// (context.Cause) is a *SessionError.
func (s *Session) Context() context.Context { return s.ctx }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() string { return s.conn.RemoteAddr().String() }

// Root returns the path of the TrackMux this session's peer sees as "/".
func (s *Session) Root() BroadcastPath { return BroadcastPath("/" + s.root) }

// maySubscribe reports whether the peer may subscribe to the broadcast at
// path (a clean path of our mux).
func (s *Session) maySubscribe(path string) bool {
	return s.canSub == nil || s.canSub(BroadcastPath("/"+path))
}

// Terminate ends the session with code and reason. It does not wait for the
// session's goroutines.
func (s *Session) Terminate(code SessionErrorCode, reason string) error {
	s.closeWith(&SessionError{Code: code, Reason: reason}, true)
	return nil
}

// closeWith ends the session once. local says whether to close the
// transport with the error's code.
func (s *Session) closeWith(se *SessionError, local bool) {
	s.closeOnce.Do(func() {
		s.closeErr = se
		if local {
			s.conn.CloseWithError(quic.ApplicationErrorCode(se.Code), se.Reason)
		}
		s.cancel(se)
		s.mu.Lock()
		subs := s.subscriptions
		s.subscriptions = map[uint64]*TrackReader{}
		s.mu.Unlock()
		for _, tr := range subs {
			tr.finish(se)
		}
		if se.Code != NoError {
			s.logger.Info("moqt: session ended", "error", se)
		} else {
			s.logger.Debug("moqt: session ended", "error", se)
		}
	})
}

// err returns the error operations on a closed session return.
func (s *Session) err() error {
	if c := context.Cause(s.ctx); c != nil {
		return c
	}
	return ErrClosedSession
}

// wait waits for every goroutine the session started.
func (s *Session) wait() {
	s.wgMu.Lock()
	s.wgWaited = true
	s.wgMu.Unlock()
	s.wg.Wait()
}

// protocolViolation terminates the session after bad input from the peer.
func (s *Session) protocolViolation(what string, err error) {
	s.logger.Warn("moqt: protocol violation", "what", what, "error", err)
	s.closeWith(&SessionError{Code: ProtocolViolationError, Reason: what}, true)
}

func (s *Session) sendSetup(m wire.Setup) {
	str, err := s.conn.OpenUniStreamSync(s.ctx)
	if err != nil {
		return
	}
	b := wire.AppendVarint(nil, wire.StreamSetup)
	b = m.Append(b, s.version)
	if _, err := str.Write(b); err != nil {
		return
	}
	str.Close()
}

func (s *Session) acceptBidi() {
	for {
		str, err := s.conn.AcceptStream(s.ctx)
		if err != nil {
			return
		}
		s.goFunc(func() { s.handleBidi(str) })
	}
}

func (s *Session) acceptUni() {
	polled, cancel := context.WithCancel(context.Background())
	cancel() // AcceptUniStream with a done context takes a stream only if one is there
	for {
		str, err := s.conn.AcceptUniStream(polled)
		if err != nil {
			if !errors.Is(err, context.Canceled) || s.ctx.Err() != nil {
				return
			}
			// Every stream the peer opened so far was taken.
			s.uni.idle()
			wctx, wake := context.WithCancel(s.ctx)
			s.uni.setWaker(wake)
			str, err = s.conn.AcceptUniStream(wctx)
			s.uni.setWaker(nil)
			wake()
			if err != nil {
				if s.ctx.Err() != nil || !errors.Is(err, context.Canceled) {
					return
				}
				continue // a barrier wants to know what is there
			}
		}
		idx := s.uni.accepted()
		s.goFunc(func() { s.handleUni(str, idx) })
	}
}

func (s *Session) newReader(r io.Reader) *wire.Reader {
	return wire.NewReader(r, s.config.maxMessageSize())
}

// handleUni reads a peer's unidirectional stream's type and header, within
// the stream header timeout, and passes it on in the order the streams
// were opened.
func (s *Session) handleUni(str quic.ReceiveStream, idx uint64) {
	if s.ietf.v != 0 {
		s.handleUniIETF(str, idx)
		return
	}
	release := func() { s.uni.done(idx, nil) }
	str.SetReadDeadline(time.Now().Add(s.config.streamHeaderTimeout()))
	r := s.newReader(str)
	typ, err := r.ReadVarint()
	if err != nil {
		release()
		s.badUni(str, "stream type", err)
		return
	}
	switch {
	case typ == wire.StreamGroup:
		var h wire.GroupHeader
		if err := readMessage(r, &h, s.version); err != nil {
			release()
			s.badUni(str, "group header", err)
			return
		}
		str.SetReadDeadline(zeroTime)
		g := &GroupReader{
			seq:      h.Sequence,
			stream:   str,
			r:        r,
			version:  s.version,
			maxFrame: s.config.maxFrameSize(),
		}
		s.uni.done(idx, func() { s.groupArrived(g, h.SubscribeID) })
	case typ == wire.StreamSetup && s.version >= wire.Lite05:
		body, err := r.ReadMessage()
		release()
		if err != nil {
			s.protocolViolation("reading SETUP", err)
			return
		}
		var m wire.Setup
		if err := m.Parse(body, s.version); err != nil {
			s.protocolViolation("parsing SETUP", err)
			return
		}
		s.mu.Lock()
		s.peerSetup = &m
		s.mu.Unlock()
	default:
		release()
		s.logger.Debug("moqt: unknown uni stream type, resetting it", "type", typ)
		str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
	}
}

// badUni resets a unidirectional stream whose header could not be read.
func (s *Session) badUni(str quic.ReceiveStream, what string, err error) {
	switch {
	case isProtocolError(err):
		s.logger.Warn("moqt: malformed stream header, resetting stream", "stream", str.StreamID(), "what", what, "error", err)
		str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.logger.Warn("moqt: no stream header within the timeout, resetting stream", "stream", str.StreamID(), "what", what, "timeout", s.config.streamHeaderTimeout())
		str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
	default:
		str.CancelRead(quic.StreamErrorCode(CancelledError))
	}
}

// uniOrder passes the peer's unidirectional streams on in the order they
// were accepted (QUIC hands them out in the order the peer opened them),
// although their headers are read concurrently: a publisher that opens
// groups oldest first is read oldest first. It also answers barriers:
// "every stream the peer had opened by now was passed on".
type uniOrder struct {
	mu       sync.Mutex
	next     uint64 // index of the next stream to accept
	released uint64 // streams below this index were passed on
	ready    map[uint64]func()
	waiters  []*uniWaiter
	waker    context.CancelFunc // wakes the accept loop from its wait
}

type uniWaiter struct {
	target uint64
	known  bool // target set: the accept loop had taken every stream there
	ch     chan struct{}
}

// accepted numbers a newly accepted stream.
func (o *uniOrder) accepted() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := o.next
	o.next++
	return i
}

// setWaker sets the function that wakes the accept loop from its wait. A
// barrier that came after the loop's last idle call and before this one
// found no waker: wake the loop at once, so that it looks again.
func (o *uniOrder) setWaker(f context.CancelFunc) {
	o.mu.Lock()
	o.waker = f
	if f != nil {
		for _, w := range o.waiters {
			if !w.known {
				f()
				break
			}
		}
	}
	o.mu.Unlock()
}

// idle is called by the accept loop when no stream is waiting to be
// accepted: the barriers asked for before now know their target.
func (o *uniOrder) idle() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.waiters {
		if !w.known {
			w.target, w.known = o.next, true
		}
	}
	o.checkLocked()
}

// done records that stream idx's header was read; fn (if any) runs once
// every stream before it was passed on. The functions run with o.mu held,
// in index order, and must not block.
func (o *uniOrder) done(idx uint64, fn func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ready == nil {
		o.ready = make(map[uint64]func())
	}
	o.ready[idx] = fn
	for {
		f, ok := o.ready[o.released]
		if !ok {
			break
		}
		delete(o.ready, o.released)
		o.released++
		if f != nil {
			f()
		}
	}
	o.checkLocked()
}

func (o *uniOrder) checkLocked() {
	keep := o.waiters[:0]
	for _, w := range o.waiters {
		if w.known && o.released >= w.target {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	clear(o.waiters[len(keep):])
	o.waiters = keep
}

// barrier waits until every stream the peer had opened when it was called
// (as far as the transport delivered them) was passed on, or ctx ends.
func (o *uniOrder) barrier(ctx context.Context) {
	w := &uniWaiter{ch: make(chan struct{})}
	o.mu.Lock()
	o.waiters = append(o.waiters, w)
	if o.waker != nil {
		o.waker()
	}
	o.mu.Unlock()
	select {
	case <-w.ch:
	case <-ctx.Done():
	}
}

func (s *Session) handleBidi(str quic.Stream) {
	if s.ietf.v != 0 {
		s.handleBidiIETF(str)
		return
	}
	r := s.newReader(str)
	typ, err := r.ReadVarint()
	if err != nil {
		resetStream(str, ProtocolViolationStreamError)
		return
	}
	switch {
	case typ == wire.StreamAnnounce:
		s.serveAnnounce(str, r)
	case typ == wire.StreamSubscribe:
		s.serveSubscribe(str, r)
	case typ == wire.StreamTrack && s.version >= wire.Lite05:
		s.serveTrackInfo(str, r)
	case typ == wire.StreamProbe:
		// We never send bitrate reports (our SETUP does not offer them), but
		// the moq-lite-03/04 JS client opens this stream regardless: keep it
		// open, silent, until the peer closes it or the session ends.
		io.Copy(io.Discard, r)
		str.Close()
	case typ == wire.StreamGoaway && s.version >= wire.Lite04:
		body, err := r.ReadMessage()
		if err != nil {
			resetStream(str, ProtocolViolationStreamError)
			return
		}
		var m wire.Goaway
		if err := m.Parse(body, s.version); err != nil {
			s.protocolViolation("parsing GOAWAY", err)
			return
		}
		s.mu.Lock()
		s.peerGoingAway = true
		s.mu.Unlock()
		s.logger.Info("moqt: peer is going away", "uri", m.URI)
	default:
		// FETCH (not served yet) and unknown types: refuse this stream only.
		s.logger.Debug("moqt: refusing bidi stream", "type", typ)
		resetStream(str, NotFoundError)
	}
}

func resetStream(str quic.Stream, code StreamErrorCode) {
	str.CancelRead(quic.StreamErrorCode(code))
	str.CancelWrite(quic.StreamErrorCode(code))
}

// readMessage reads one length-prefixed message and parses it into m.
func readMessage(r *wire.Reader, m interface {
	Parse([]byte, wire.Version) error
}, v wire.Version) error {
	body, err := r.ReadMessage()
	if err != nil {
		return err
	}
	return m.Parse(body, v)
}

// isProtocolError reports whether err came from bad bytes rather than from
// the transport.
func isProtocolError(err error) bool {
	return errors.Is(err, wire.ErrTruncated) || errors.Is(err, wire.ErrTrailing) ||
		errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrInvalid) ||
		errors.Is(err, ietf.ErrTruncated) || errors.Is(err, ietf.ErrTrailing) ||
		errors.Is(err, ietf.ErrTooLarge) || errors.Is(err, ietf.ErrInvalid) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// subscriptionServed is called when a subscription we served is over.
func (s *Session) subscriptionServed() {
	s.mu.Lock()
	s.served--
	n := s.served
	s.mu.Unlock()
	if n == 0 {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}

// goAway sends GOAWAY (moq-lite-04 and later) and refuses new requests
// from then on.
func (s *Session) goAway(uri string) {
	s.mu.Lock()
	if s.goingAway {
		s.mu.Unlock()
		return
	}
	s.goingAway = true
	s.mu.Unlock()
	if s.ietf.v != 0 {
		s.goAwayIETF(uri)
		return
	}
	if s.version < wire.Lite04 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	defer cancel()
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return
	}
	b := wire.AppendVarint(nil, wire.StreamGoaway)
	m := wire.Goaway{URI: uri}
	b = m.Append(b, s.version)
	if _, err := str.Write(b); err == nil {
		str.Close()
	}
	str.CancelRead(quic.StreamErrorCode(CancelledError))
}

// drain waits until every subscription we serve is over (sent to its end
// and acknowledged by the subscriber closing its side, or cancelled), the
// session ends, or ctx is done.
func (s *Session) drain(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := s.served
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-s.idle:
		case <-s.ctx.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var zeroTime time.Time

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// PeerGoingAway reports whether the peer sent GOAWAY (moq-lite-04 and
// later): it is shutting down, and new requests should go elsewhere.
func (s *Session) PeerGoingAway() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerGoingAway
}
