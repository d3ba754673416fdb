package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	config  *Config
	logger  *slog.Logger
	origin  uint64 // our hop ID

	ctx    context.Context
	cancel context.CancelCauseFunc

	wg sync.WaitGroup // every goroutine the session started

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

	inflight atomic.Int64  // groups being written
	idle     chan struct{} // signalled when inflight drops to 0

	setup wire.Setup // what start sends on moq-lite-05
}

type sessionParams struct {
	conn    quic.Connection
	version wire.Version
	server  bool
	root    string
	mux     *TrackMux
	config  *Config
	logger  *slog.Logger
	origin  uint64
	// setup is sent on moq-lite-05 (Origin is filled in).
	setup     wire.Setup
	peerSetup *wire.Setup
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
		config:        p.config,
		origin:        p.origin,
		subscriptions: make(map[uint64]*TrackReader),
		peerSetup:     p.peerSetup,
		idle:          make(chan struct{}, 1),
	}
	s.logger = p.logger.With("remote", p.conn.RemoteAddr().String(), "version", p.version.String())
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
	if s.version >= wire.Lite05 {
		setup := s.setup
		setup.Origin = s.origin
		s.goFunc(func() { s.sendSetup(setup) })
	}
	s.goFunc(s.acceptBidi)
	s.goFunc(s.acceptUni)
}

func (s *Session) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Version returns the negotiated moq-lite version.
func (s *Session) Version() Version { return Version(s.version) }

// Context returns a context cancelled when the session ends; its cause
// (context.Cause) is a *SessionError.
func (s *Session) Context() context.Context { return s.ctx }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() string { return s.conn.RemoteAddr().String() }

// Root returns the path of the TrackMux this session's peer sees as "/".
func (s *Session) Root() BroadcastPath { return BroadcastPath("/" + s.root) }

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
func (s *Session) wait() { s.wg.Wait() }

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
	for {
		str, err := s.conn.AcceptUniStream(s.ctx)
		if err != nil {
			return
		}
		s.goFunc(func() { s.handleUni(str) })
	}
}

func (s *Session) newReader(r io.Reader) *wire.Reader {
	return wire.NewReader(r, s.config.maxMessageSize())
}

func (s *Session) handleUni(str quic.ReceiveStream) {
	r := s.newReader(str)
	typ, err := r.ReadVarint()
	if err != nil {
		str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
		return
	}
	switch {
	case typ == wire.StreamGroup:
		s.handleGroup(str, r)
	case typ == wire.StreamSetup && s.version >= wire.Lite05:
		body, err := r.ReadMessage()
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
		s.logger.Debug("moqt: unknown uni stream type, resetting it", "type", typ)
		str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
	}
}

func (s *Session) handleBidi(str quic.Stream) {
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
		errors.Is(err, io.ErrUnexpectedEOF)
}

// groupDone is called when a group we write is finished or abandoned.
func (s *Session) groupDone() {
	if s.inflight.Add(-1) == 0 {
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

// drain waits until no group is being written, or ctx is done.
func (s *Session) drain(ctx context.Context) error {
	for s.inflight.Load() > 0 {
		select {
		case <-s.idle:
		case <-s.ctx.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
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

// ShutdownLinger is how long a drained session waits, during Shutdown,
// before it is closed: closing a QUIC connection discards the stream data
// not yet sent, so the last groups get this long to reach the peer.
const ShutdownLinger = 250 * time.Millisecond

// linger waits ShutdownLinger, or less if the session or ctx ends first.
func (s *Session) linger(ctx context.Context) {
	t := time.NewTimer(ShutdownLinger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	case <-ctx.Done():
	}
}
