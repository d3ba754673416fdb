package qmux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/gomoq/gomoq/quic"
)

// Version is a QMux wire format.
type Version uint8

// The wire formats: the version is implied by the negotiated subprotocol.
const (
	// Draft00 (qmux-00): one frame per record, no datagrams, no QX_PING.
	Draft00 Version = iota + 1
	// Draft01 (qmux-01): records of several frames, max_record_size,
	// QX_PING keep-alives and datagrams.
	Draft01
	// Draft02 (qmux-02): Draft01's records, with the transport parameters
	// required to be the first frame and ping sequence numbers checked.
	Draft02
)

// Versions lists the wire formats this package speaks, newest first.
var Versions = []Version{Draft02, Draft01, Draft00}

// String returns the subprotocol prefix of v without its dot: "qmux-01".
func (v Version) String() string {
	switch v {
	case Draft00:
		return "qmux-00"
	case Draft01:
		return "qmux-01"
	case Draft02:
		return "qmux-02"
	}
	return fmt.Sprintf("qmux-version(%d)", uint8(v))
}

func (v Version) records() bool { return v >= Draft01 }

// Transport carries QMux records: a WebSocket binary message each.
type Transport interface {
	// ReadRecord returns the next record; the slice is valid until the
	// next call. It is called from one goroutine.
	ReadRecord() ([]byte, error)
	// WriteRecord sends one record; it is called from one goroutine.
	WriteRecord(ctx context.Context, b []byte) error
	// Close ends the transport; calls in progress return errors.
	Close() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// Config configures a Conn. A nil Config or zero fields take the defaults.
type Config struct {
	// Version is the wire format, from the negotiated subprotocol;
	// zero means Draft01.
	Version Version
	// Protocol is the application protocol negotiated with it, reported
	// by ConnectionState.
	Protocol string
	// TLS is the state of the TLS connection under the transport, if any,
	// reported by ConnectionState.
	TLS *tls.ConnectionState
	// MaxIncomingStreams and MaxIncomingUniStreams bound the streams of
	// each kind the peer may have open at once; zero means 100.
	MaxIncomingStreams    int64
	MaxIncomingUniStreams int64
	// StreamReceiveWindow is how many unread bytes a stream may hold;
	// zero means 1 MiB.
	StreamReceiveWindow uint64
	// ConnectionReceiveWindow is how many unread bytes all streams
	// together may hold; zero means 4 MiB.
	ConnectionReceiveWindow uint64
	// MaxIdleTimeout closes the connection when nothing arrived for that
	// long (the smaller of both ends' values; Draft01 and later, which
	// send QX_PING keep-alives); zero means 30 s.
	MaxIdleTimeout time.Duration
	// HandshakeTimeout bounds the wait for the peer's transport
	// parameters; zero means 10 s.
	HandshakeTimeout time.Duration
	// EnableDatagrams offers datagrams (Draft01 and later).
	EnableDatagrams bool
}

func (c *Config) version() Version {
	if c == nil || c.Version == 0 {
		return Draft01
	}
	return c.Version
}

func orDefault[T int64 | uint64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Internal bounds.
const (
	maxStreamPayload = maxFrameSize - 32 // what released peers accept in one STREAM frame
	sendBufferSize   = 64 << 10          // bytes a stream buffers before Write blocks
	datagramQueue    = 128               // received datagrams waiting for ReceiveDatagram
	closeWriteBudget = 5 * time.Second   // the final CONNECTION_CLOSE write to a stuck peer
)

// Conn is a QMux connection. It implements quic.Connection.
type Conn struct {
	t        Transport
	cfg      Config
	version  Version
	isServer bool
	local    params

	ctx    context.Context
	cancel context.CancelCauseFunc

	handshake chan struct{} // closed when the peer's parameters arrived
	wake      chan struct{} // the writer has something to send
	done      chan struct{} // the writer and reader have exited
	writeCtx  context.Context
	stopWrite context.CancelFunc

	mu         sync.Mutex
	closeErr   error    // set once: the connection is closed
	closing    [][]byte // the records to send before closing the transport
	sentParams bool
	peer       params
	havePeer   bool
	streams    map[quicgo.StreamID]*stream
	control    []frame   // frames the writer sends before stream data
	active     []*stream // streams with data, FIN or a reset to send, round robin
	lastPing   uint64    // highest QX_PING request sequence received (Draft02)
	gotPing    bool
	pingSeq    uint64
	sentAt     time.Time
	recvAt     time.Time
	// Connection flow control.
	sendMax, sent         uint64
	recvMax, recvd, eaten uint64
	// Stream counts, indexed by [bidi=0, uni=1].
	nextOpen  [2]uint64 // index of our next stream
	openLimit [2]uint64 // peer's MAX_STREAMS
	peerNext  [2]uint64 // index above the highest stream the peer opened
	inLimit   [2]uint64 // our MAX_STREAMS
	inDone    [2]uint64 // peer streams finished
	accept    [2][]*stream
	openWait  [2]chan struct{} // closed when stream credit grows
	acceptSig [2]chan struct{} // closed when a stream is queued for accept
	dgrams    [][]byte
	dgramSig  chan struct{}
	dgramOut  [][]byte
	blocked   []*stream // streams waiting for connection credit
	wg        sync.WaitGroup
	// onStreamBlocked, set by tests, sees streams stopped by the peer's
	// stream window. c.mu is held.
	onStreamBlocked func(*stream)
}

var _ quic.Connection = (*Conn)(nil)

// Server starts the server side of a QMux connection on t.
func Server(t Transport, cfg *Config) *Conn { return newConn(t, cfg, true) }

// Client starts the client side of a QMux connection on t.
func Client(t Transport, cfg *Config) *Conn { return newConn(t, cfg, false) }

func newConn(t Transport, cfg *Config, server bool) *Conn {
	c := &Conn{t: t, version: cfg.version(), isServer: server}
	if cfg != nil {
		c.cfg = *cfg
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.writeCtx, c.stopWrite = context.WithCancel(context.Background())
	c.handshake = make(chan struct{})
	c.wake = make(chan struct{}, 1)
	c.done = make(chan struct{})
	c.dgramSig = make(chan struct{})
	c.streams = make(map[quicgo.StreamID]*stream)
	for i := range 2 {
		c.openWait[i] = make(chan struct{})
		c.acceptSig[i] = make(chan struct{})
	}
	streamWin := orDefault(c.cfg.StreamReceiveWindow, 1<<20)
	c.local = params{
		idleTimeoutMs:   uint64(orDefault(c.cfg.MaxIdleTimeout, 30*time.Second) / time.Millisecond),
		maxData:         orDefault(c.cfg.ConnectionReceiveWindow, 4<<20),
		streamBidiLocal: streamWin,
		streamBidiRemot: streamWin,
		streamUni:       streamWin,
		streamsBidi:     uint64(orDefault(c.cfg.MaxIncomingStreams, 100)),
		streamsUni:      uint64(orDefault(c.cfg.MaxIncomingUniStreams, 100)),
		maxRecordSize:   defaultMaxRecordSize,
	}
	if c.cfg.EnableDatagrams && c.version.records() {
		c.local.maxDatagram = defaultMaxRecordSize
	}
	if !c.version.records() {
		c.local.idleTimeoutMs = 0
	}
	c.recvMax = c.local.maxData
	c.inLimit = [2]uint64{c.local.streamsBidi, c.local.streamsUni}
	c.peer.maxRecordSize = defaultMaxRecordSize
	now := time.Now()
	c.sentAt, c.recvAt = now, now
	// The transport parameters are the first frame each end sends.
	c.control = append(c.control, frame{typ: typeTransportParam, params: &c.local})
	c.signalWriter()
	c.wg.Add(3)
	go c.writeLoop()
	go c.readLoop()
	go c.timers()
	go func() {
		c.wg.Wait()
		close(c.done)
	}()
	return c
}

// HandshakeComplete is closed once the peer's transport parameters arrived:
// before that no stream data can be sent.
func (c *Conn) HandshakeComplete() <-chan struct{} { return c.handshake }

// Context is cancelled when the connection closes; its cause is the close
// error.
func (c *Conn) Context() context.Context { return c.ctx }

// LocalAddr returns the transport's local address.
func (c *Conn) LocalAddr() net.Addr { return c.t.LocalAddr() }

// RemoteAddr returns the transport's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.t.RemoteAddr() }

// ConnectionState reports the application protocol and datagram support.
func (c *Conn) ConnectionState() quic.ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := quic.ConnectionState{
		Protocol:          c.cfg.Protocol,
		SupportsDatagrams: c.local.maxDatagram > 0 && c.peer.maxDatagram > 0,
	}
	if c.cfg.TLS != nil {
		st.TLS = *c.cfg.TLS
	}
	return st
}

// Version returns the connection's wire format.
func (c *Conn) Version() Version { return c.version }

// CloseWithError closes the connection with an application error code
// and reason (APPLICATION_CLOSE). It returns once the close was sent or the
// transport failed.
func (c *Conn) CloseWithError(code quic.ApplicationErrorCode, reason string) error {
	c.closeWith(&quicgo.ApplicationError{ErrorCode: code, ErrorMessage: reason}, frame{typ: typeAppClose, code: uint64(code), data: []byte(reason)})
	<-c.done
	return nil
}

// fail closes the connection after a transport error of ours or the peer's.
func (c *Conn) fail(code quicgo.TransportErrorCode, msg string) {
	c.closeWith(&quicgo.TransportError{ErrorCode: code, ErrorMessage: msg}, frame{typ: typeConnClose, code: uint64(code), data: []byte(msg)})
}

// closeWith records err as the close error, fails every stream, and
// leaves the close frame (if any) as the writer's last record.
func (c *Conn) closeWith(err error, f frame) {
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return
	}
	c.closeErr = err
	if f.typ != 0 {
		if !c.sentParams {
			// The parameters come first even when the close follows at once.
			c.closing = append(c.closing, appendFrame(nil, &frame{typ: typeTransportParam, params: &c.local}))
		}
		c.closing = append(c.closing, appendFrame(nil, &f))
	}
	streams := c.streams
	c.streams = nil
	c.active, c.control, c.accept, c.blocked, c.dgramOut = nil, nil, [2][]*stream{}, nil, nil
	for i := range 2 {
		close(c.openWait[i])
		close(c.acceptSig[i])
	}
	close(c.dgramSig)
	c.mu.Unlock()
	for _, s := range streams {
		s.closeAll(err)
	}
	c.cancel(err)
	c.signalWriter()
	if f.typ == 0 {
		c.t.Close()
	}
}

func (c *Conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

func (c *Conn) signalWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop owns the transport's write side: it builds records from the
// control frames and, round robin, the streams with data, within the
// peer's flow control, and writes them.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	defer c.stopWrite()
	var buf []byte
	for {
		<-c.wake
		for {
			c.mu.Lock()
			if c.closeErr != nil {
				last := c.closing
				c.mu.Unlock()
				ctx, cancel := context.WithTimeout(c.writeCtx, closeWriteBudget)
				for _, rec := range last {
					if c.t.WriteRecord(ctx, rec) != nil {
						break
					}
				}
				cancel()
				c.t.Close()
				return
			}
			buf = c.buildRecord(buf[:0])
			if len(buf) > 0 {
				c.sentAt = time.Now()
			}
			c.mu.Unlock()
			if len(buf) == 0 {
				break
			}
			if err := c.t.WriteRecord(c.writeCtx, buf); err != nil {
				c.closeWith(fmt.Errorf("qmux: transport write: %w", err), frame{})
				// Loop once more to see closeErr and exit.
				c.signalWriter()
				break
			}
		}
	}
}

// buildRecord appends the next record to b. c.mu is held.
func (c *Conn) buildRecord(b []byte) []byte {
	limit := int(min(c.peer.maxRecordSize, 1<<20))
	one := !c.version.records() // draft-00: one frame per record
	if one {
		limit = maxFrameSize
	}
	for len(c.control) > 0 {
		if c.control[0].typ == typeTransportParam {
			c.sentParams = true
		}
		enc := appendFrame(b, &c.control[0])
		if len(b) > 0 && len(enc) > limit {
			return b
		}
		b = enc
		c.control[0] = frame{}
		c.control = c.control[1:]
		if one {
			return b
		}
	}
	c.control = nil
	if !c.havePeer {
		return b // no stream data before the peer's limits are known
	}
	for len(c.dgramOut) > 0 {
		f := frame{typ: typeDatagramLen, data: c.dgramOut[0]}
		enc := appendFrame(b, &f)
		if len(b) > 0 && len(enc) > limit {
			return b
		}
		b = enc
		c.dgramOut[0] = nil
		c.dgramOut = c.dgramOut[1:]
	}
	// Stream data: one frame per stream per pass, round robin.
	for len(c.active) > 0 && limit-len(b) >= 64 {
		s := c.active[0]
		c.active[0] = nil
		c.active = c.active[1:]
		s.queued = false
		if s.hasWork(c) {
			b = s.frameInto(b, limit-len(b), c)
		}
		c.schedule(s)
		if one && len(b) > 0 {
			return b
		}
	}
	return b
}

// schedule puts s in the writer's round robin when it has something to
// send, or among the streams waiting for connection credit. c.mu is held.
func (c *Conn) schedule(s *stream) {
	if s.queued || c.closeErr != nil {
		return
	}
	if s.hasWork(c) {
		s.queued = true
		c.active = append(c.active, s)
		c.signalWriter()
		return
	}
	if s.sendDone || s.sErr != nil || len(s.sbuf) == s.spos {
		return
	}
	if s.soff < s.smax {
		if !s.blocked {
			s.blocked = true
			c.blocked = append(c.blocked, s)
		}
	} else if c.onStreamBlocked != nil {
		c.onStreamBlocked(s)
	}
}

// queue adds a control frame. c.mu is held.
func (c *Conn) queue(f frame) {
	if c.closeErr != nil {
		return
	}
	c.control = append(c.control, f)
	c.signalWriter()
}

// consumed credits n bytes read from s to both windows, advertising more
// once half a window was used. c.mu is held.
func (c *Conn) consumed(s *stream, n uint64) {
	if s != nil && !s.rfin && s.rmax-s.read <= s.rwin/2 {
		s.rmax = s.read + s.rwin
		c.queue(frame{typ: typeMaxStreamData, id: uint64(s.id), value: s.rmax})
	}
	c.eaten += n
	if c.recvMax-c.eaten <= c.local.maxData/2 {
		c.recvMax = c.eaten + c.local.maxData
		c.queue(frame{typ: typeMaxData, value: c.recvMax})
	}
}

// discard drops what s has buffered, crediting it to the connection.
// c.mu is held.
func (c *Conn) discard(s *stream) {
	n := uint64(len(s.rbuf) - s.rpos)
	s.rbuf, s.rpos = nil, 0
	if n > 0 {
		c.consumed(nil, n)
	}
}

// maybeDone forgets s once both sides are finished, giving the peer
// credit for a new stream if it opened s. c.mu is held.
func (c *Conn) maybeDone(s *stream) {
	if !s.sendDone || !s.recvDone || c.streams == nil {
		return
	}
	if _, ok := c.streams[s.id]; !ok {
		return
	}
	delete(c.streams, s.id)
	if c.ours(s.id) {
		return
	}
	d := dirIndex(s.id)
	c.inDone[d]++
	lim := c.local.streamsBidi
	typ := uint64(typeMaxStreamsBidi)
	if d == 1 {
		lim, typ = c.local.streamsUni, typeMaxStreamsUni
	}
	c.inLimit[d] = c.inDone[d] + lim
	c.queue(frame{typ: typ, value: c.inLimit[d]})
}

// bcast wakes every waiter on *ch. c.mu is held.
func bcast(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}

func (c *Conn) open(ctx context.Context, uni, block bool) (*stream, error) {
	d := 0
	if uni {
		d = 1
	}
	c.mu.Lock()
	for {
		if c.closeErr != nil {
			err := c.closeErr
			c.mu.Unlock()
			return nil, err
		}
		if c.nextOpen[d] < c.openLimit[d] {
			id := streamID(c.nextOpen[d], c.isServer, uni)
			c.nextOpen[d]++
			s := newStream(c, id)
			c.streams[id] = s
			c.mu.Unlock()
			return s, nil
		}
		if !block {
			c.mu.Unlock()
			return nil, errTooManyStreams
		}
		ch := c.openWait[d]
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
	}
}

// errTooManyStreams is returned by OpenStream and OpenUniStream when the
// peer's stream limit is reached.
var errTooManyStreams = tooManyStreams{}

type tooManyStreams struct{}

func (tooManyStreams) Error() string   { return "qmux: too many open streams" }
func (tooManyStreams) Temporary() bool { return true }
func (tooManyStreams) Timeout() bool   { return false }

// OpenStream opens a bidirectional stream, failing if the peer's limit is
// reached.
func (c *Conn) OpenStream() (quic.Stream, error) {
	s, err := c.open(context.Background(), false, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenStreamSync opens a bidirectional stream, waiting for stream credit.
func (c *Conn) OpenStreamSync(ctx context.Context) (quic.Stream, error) {
	s, err := c.open(ctx, false, true)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenUniStream opens a unidirectional stream, failing if the peer's limit
// is reached.
func (c *Conn) OpenUniStream() (quic.SendStream, error) {
	s, err := c.open(context.Background(), true, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenUniStreamSync opens a unidirectional stream, waiting for stream
// credit.
func (c *Conn) OpenUniStreamSync(ctx context.Context) (quic.SendStream, error) {
	s, err := c.open(ctx, true, true)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (c *Conn) acceptNext(ctx context.Context, d int) (*stream, error) {
	c.mu.Lock()
	for {
		if len(c.accept[d]) > 0 {
			s := c.accept[d][0]
			c.accept[d][0] = nil
			c.accept[d] = c.accept[d][1:]
			c.mu.Unlock()
			return s, nil
		}
		if c.closeErr != nil {
			err := c.closeErr
			c.mu.Unlock()
			return nil, err
		}
		ch := c.acceptSig[d]
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
	}
}

// AcceptStream returns the next bidirectional stream the peer opened.
func (c *Conn) AcceptStream(ctx context.Context) (quic.Stream, error) {
	s, err := c.acceptNext(ctx, 0)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AcceptUniStream returns the next unidirectional stream the peer opened.
func (c *Conn) AcceptUniStream(ctx context.Context) (quic.ReceiveStream, error) {
	s, err := c.acceptNext(ctx, 1)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// SendDatagram queues a datagram (Draft01 and later, when both ends
// enabled them). Datagrams are dropped, not queued without bound, when
// the writer is behind.
func (c *Conn) SendDatagram(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return c.closeErr
	}
	if c.local.maxDatagram == 0 || c.peer.maxDatagram == 0 {
		return errors.New("qmux: datagrams not negotiated")
	}
	limit := min(c.peer.maxDatagram, c.peer.maxRecordSize)
	if max := int64(limit) - 1 - 2; int64(len(b)) > max {
		return &quicgo.DatagramTooLargeError{MaxDatagramPayloadSize: max}
	}
	if len(c.dgramOut) >= datagramQueue {
		return nil
	}
	c.dgramOut = append(c.dgramOut, append([]byte(nil), b...))
	c.signalWriter()
	return nil
}

// ReceiveDatagram returns the next datagram received.
func (c *Conn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	for {
		if len(c.dgrams) > 0 {
			d := c.dgrams[0]
			c.dgrams[0] = nil
			c.dgrams = c.dgrams[1:]
			c.mu.Unlock()
			return d, nil
		}
		if c.closeErr != nil {
			err := c.closeErr
			c.mu.Unlock()
			return nil, err
		}
		ch := c.dgramSig
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
	}
}

// readLoop owns the transport's read side.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	for {
		rec, err := c.t.ReadRecord()
		if err != nil {
			c.closeWith(fmt.Errorf("qmux: transport closed: %w", err), frame{})
			return
		}
		if err := c.handleRecord(rec); err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				c.fail(pe.code, pe.msg)
			} else {
				c.fail(quicgo.ProtocolViolation, err.Error())
			}
			return
		}
		if c.err() != nil {
			return
		}
	}
}

// protoError is a violation of the protocol by the peer, closing the
// connection with a transport error code.
type protoError struct {
	code quicgo.TransportErrorCode
	msg  string
}

func (e *protoError) Error() string { return e.msg }

func violation(code quicgo.TransportErrorCode, format string, args ...any) error {
	return &protoError{code: code, msg: fmt.Sprintf(format, args...)}
}

// handleRecord applies the frames of one record.
func (c *Conn) handleRecord(rec []byte) error {
	if c.version.records() {
		if uint64(len(rec)) > c.local.maxRecordSize {
			return violation(quicgo.FrameEncodingError, "record of %d bytes exceeds max_record_size %d", len(rec), c.local.maxRecordSize)
		}
	} else if len(rec) > maxFrameSize {
		return violation(quicgo.FrameEncodingError, "frame of %d bytes exceeds %d", len(rec), maxFrameSize)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return nil
	}
	c.recvAt = time.Now()
	for p := 0; p < len(rec); {
		f, n, err := parseFrame(rec[p:])
		if err != nil {
			return violation(quicgo.FrameEncodingError, "%v", err)
		}
		p += n
		if f.typ == typePadding {
			continue
		}
		if err := c.handleFrame(&f); err != nil {
			return err
		}
		if c.closeErr != nil {
			return nil
		}
	}
	return nil
}

// handleFrame applies one frame. c.mu is held.
func (c *Conn) handleFrame(f *frame) error {
	if !c.havePeer && f.typ != typeTransportParam {
		return violation(quicgo.ProtocolViolation, "frame %#x before QX_TRANSPORT_PARAMETERS", f.typ)
	}
	switch f.typ {
	case typeTransportParam:
		if c.havePeer {
			return violation(quicgo.ProtocolViolation, "second QX_TRANSPORT_PARAMETERS")
		}
		return c.handleParams(f.params)
	case typeStreamBase:
		return c.handleStream(f)
	case typeResetStream:
		return c.handleReset(f)
	case typeResetStreamAt:
		return violation(quicgo.ProtocolViolation, "RESET_STREAM_AT without reset_stream_at")
	case typeStopSending:
		id := quicgo.StreamID(f.id)
		if isUni(id) && !c.ours(id) {
			return violation(quicgo.StreamStateError, "STOP_SENDING for receive-only stream %d", id)
		}
		s, err := c.lookup(id)
		if err != nil || s == nil {
			return err
		}
		code := quic.StreamErrorCode(f.code)
		s.resetSend(&quicgo.StreamError{StreamID: id, ErrorCode: code, Remote: true}, code)
	case typeMaxData:
		if f.value > c.sendMax {
			c.sendMax = f.value
			blocked := c.blocked
			c.blocked = nil
			for _, s := range blocked {
				s.blocked = false
				c.schedule(s)
			}
		}
	case typeMaxStreamData:
		id := quicgo.StreamID(f.id)
		if isUni(id) && !c.ours(id) {
			return violation(quicgo.StreamStateError, "MAX_STREAM_DATA for receive-only stream %d", id)
		}
		s, err := c.lookup(id)
		if err != nil || s == nil {
			return err
		}
		if f.value > s.smax {
			s.smax = f.value
			c.schedule(s)
		}
	case typeMaxStreamsBidi, typeMaxStreamsUni:
		d := 0
		if f.typ == typeMaxStreamsUni {
			d = 1
		}
		if f.value > c.openLimit[d] {
			c.openLimit[d] = f.value
			bcast(&c.openWait[d])
		}
	case typeDataBlocked, typeStreamDataBlk, typeStreamsBlkBidi, typeStreamsBlkUni, typePing:
	case typeConnClose:
		c.closeLocked(&quicgo.TransportError{Remote: true, ErrorCode: quicgo.TransportErrorCode(f.code), FrameType: f.causing, ErrorMessage: string(f.data)})
	case typeAppClose:
		c.closeLocked(&quicgo.ApplicationError{Remote: true, ErrorCode: quic.ApplicationErrorCode(f.code), ErrorMessage: string(f.data)})
	case typePingRequest:
		if !c.version.records() {
			return violation(quicgo.ProtocolViolation, "QX_PING on %v", c.version)
		}
		if c.version >= Draft02 {
			if c.gotPing && f.value <= c.lastPing {
				return violation(quicgo.ProtocolViolation, "QX_PING sequence %d after %d", f.value, c.lastPing)
			}
			c.gotPing, c.lastPing = true, f.value
		}
		c.queue(frame{typ: typePingResponse, value: f.value})
	case typePingResponse:
		if c.version >= Draft02 && f.value >= c.pingSeq {
			return violation(quicgo.ProtocolViolation, "QX_PING response %d to no request", f.value)
		}
	case typeDatagram, typeDatagramLen:
		if c.local.maxDatagram == 0 {
			return violation(quicgo.ProtocolViolation, "DATAGRAM without max_datagram_frame_size")
		}
		if uint64(len(f.data)) > c.local.maxDatagram {
			return violation(quicgo.ProtocolViolation, "DATAGRAM larger than max_datagram_frame_size")
		}
		if len(c.dgrams) < datagramQueue {
			c.dgrams = append(c.dgrams, append([]byte(nil), f.data...))
			bcast(&c.dgramSig)
		}
	}
	return nil
}

// closeLocked closes the connection after the peer closed it, without a
// close frame of ours. c.mu is held; it is released and re-taken.
func (c *Conn) closeLocked(err error) {
	c.mu.Unlock()
	c.closeWith(err, frame{})
	c.mu.Lock()
}

func (c *Conn) handleParams(p *params) error {
	if c.version.records() && p.maxRecordSize < defaultMaxRecordSize {
		return violation(quicgo.TransportParameterError, "max_record_size %d below %d", p.maxRecordSize, defaultMaxRecordSize)
	}
	if !c.version.records() {
		p.maxDatagram = 0 // no datagrams without records
		// Nor a record size: qmux-00 messages are bounded by maxFrameSize,
		// and a max_record_size of 0 would stall our writer.
		p.maxRecordSize = defaultMaxRecordSize
	}
	c.peer = *p
	c.havePeer = true
	c.sendMax = p.maxData
	c.openLimit = [2]uint64{p.streamsBidi, p.streamsUni}
	bcast(&c.openWait[0])
	bcast(&c.openWait[1])
	for _, s := range c.streams {
		if !s.canSend {
			continue
		}
		if isUni(s.id) {
			s.smax = p.streamUni
		} else {
			s.smax = p.streamBidiRemot
		}
		c.schedule(s)
	}
	close(c.handshake)
	c.signalWriter()
	return nil
}

// lookup returns the stream id, opening the peer's streams up to it. It
// returns nil for a stream that is already finished.
func (c *Conn) lookup(id quicgo.StreamID) (*stream, error) {
	if s, ok := c.streams[id]; ok {
		return s, nil
	}
	d, idx := dirIndex(id), streamIndex(id)
	if c.ours(id) {
		if idx >= c.nextOpen[d] {
			return nil, violation(quicgo.StreamStateError, "frame for stream %d, which we did not open", id)
		}
		return nil, nil
	}
	if idx < c.peerNext[d] {
		return nil, nil // finished
	}
	if idx >= c.inLimit[d] {
		return nil, violation(quicgo.StreamLimitError, "stream %d beyond the limit of %d", id, c.inLimit[d])
	}
	var s *stream
	for i := c.peerNext[d]; i <= idx; i++ {
		sid := streamID(i, !c.isServer, d == 1)
		s = newStream(c, sid)
		c.streams[sid] = s
		c.accept[d] = append(c.accept[d], s)
	}
	c.peerNext[d] = idx + 1
	bcast(&c.acceptSig[d])
	return s, nil
}

func (c *Conn) handleStream(f *frame) error {
	id := quicgo.StreamID(f.id)
	if isUni(id) && c.ours(id) {
		return violation(quicgo.StreamStateError, "STREAM frame for send-only stream %d", id)
	}
	s, err := c.lookup(id)
	if err != nil {
		return err
	}
	n := uint64(len(f.data))
	if s == nil {
		return nil // a finished stream: nothing can arrive for it
	}
	if s.rfin {
		if f.offset+n > s.roff || (f.fin && f.offset+n != s.roff) {
			return violation(quicgo.FinalSizeError, "data for stream %d beyond its final size", id)
		}
		return nil
	}
	if f.offset != s.roff {
		return violation(quicgo.ProtocolViolation, "stream %d data at offset %d, expected %d", id, f.offset, s.roff)
	}
	end := s.roff + n
	if end > s.rmax {
		return violation(quicgo.FlowControlError, "stream %d received %d bytes, allowed %d", id, end, s.rmax)
	}
	if c.recvd+n > c.recvMax {
		return violation(quicgo.FlowControlError, "connection received %d bytes, allowed %d", c.recvd+n, c.recvMax)
	}
	c.recvd += n
	s.roff = end
	if s.rErr != nil {
		c.consumed(nil, n) // read cancelled: dropped at once
	} else if n > 0 {
		if s.rpos > 0 && len(s.rbuf)+int(n) > cap(s.rbuf) {
			m := copy(s.rbuf, s.rbuf[s.rpos:])
			s.rbuf, s.rpos = s.rbuf[:m], 0
		}
		s.rbuf = append(s.rbuf, f.data...)
	}
	if f.fin {
		s.rfin = true
		if s.rErr != nil {
			s.recvDone = true
			c.maybeDone(s)
		}
	}
	notify(s.rSig)
	return nil
}

func (c *Conn) handleReset(f *frame) error {
	id := quicgo.StreamID(f.id)
	if isUni(id) && c.ours(id) {
		return violation(quicgo.StreamStateError, "RESET_STREAM for send-only stream %d", id)
	}
	s, err := c.lookup(id)
	if err != nil || s == nil {
		return err
	}
	if s.rfin && s.rErr == nil && f.finalSize != s.roff && len(s.rbuf) == s.rpos && s.recvDone {
		return nil
	}
	// Drafts up to 02 let senders put 0 here: the larger of the two is
	// the final size.
	final := max(f.finalSize, s.roff)
	gap := final - s.roff
	if final > s.rmax || c.recvd+gap > c.recvMax {
		return violation(quicgo.FlowControlError, "stream %d reset at %d beyond the flow control limit", id, final)
	}
	c.recvd += gap
	s.roff = final
	s.rfin = true
	c.consumed(nil, gap)
	c.discard(s)
	if s.rErr == nil {
		s.rErr = &quicgo.StreamError{StreamID: id, ErrorCode: quic.StreamErrorCode(f.code), Remote: true}
	}
	s.recvDone = true
	notify(s.rSig)
	c.maybeDone(s)
	return nil
}

// timers closes the connection when the peer's transport parameters do
// not arrive in time or nothing arrives for the idle timeout, and sends a
// QX_PING when nothing was sent for a third of it.
func (c *Conn) timers() {
	defer c.wg.Done()
	t := time.NewTimer(orDefault(c.cfg.HandshakeTimeout, 10*time.Second))
	defer t.Stop()
	select {
	case <-c.ctx.Done():
		return
	case <-c.handshake:
	case <-t.C:
		c.mu.Lock()
		ok := c.havePeer
		c.mu.Unlock()
		if !ok {
			c.closeWith(&quicgo.HandshakeTimeoutError{}, frame{typ: typeConnClose, code: uint64(quicgo.ProtocolViolation), data: []byte("no transport parameters within the handshake timeout")})
			return
		}
	}
	for {
		c.mu.Lock()
		idle := c.idleTimeout()
		if idle == 0 {
			c.mu.Unlock()
			<-c.ctx.Done()
			return
		}
		now := time.Now()
		if now.Sub(c.recvAt) >= idle {
			c.mu.Unlock()
			c.closeWith(&quicgo.IdleTimeoutError{}, frame{})
			return
		}
		if now.Sub(c.sentAt) >= idle/3 {
			c.queue(frame{typ: typePingRequest, value: c.pingSeq})
			c.pingSeq++
			c.sentAt = now
		}
		wait := min(time.Until(c.recvAt.Add(idle)), time.Until(c.sentAt.Add(idle/3)))
		c.mu.Unlock()
		t.Reset(wait)
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// idleTimeout is the smaller non-zero of both ends' max_idle_timeout, on
// the versions with QX_PING. c.mu is held.
func (c *Conn) idleTimeout() time.Duration {
	if !c.version.records() {
		return 0
	}
	a, b := c.local.idleTimeoutMs, c.peer.idleTimeoutMs
	switch {
	case a == 0:
		a = b
	case b != 0:
		a = min(a, b)
	}
	return time.Duration(a) * time.Millisecond
}
