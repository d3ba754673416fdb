package moqt

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
)

// serveAnnounce answers a peer's announce request with the mux's
// announcements under the requested prefix, then every change, until the
// peer closes the stream or the session ends.
func (s *Session) serveAnnounce(str quic.Stream, r *wire.Reader) {
	var req wire.AnnounceRequest
	if err := readMessage(r, &req, s.version); err != nil {
		s.badStream(str, "announce request", err)
		return
	}
	s.mu.Lock()
	if s.goingAway {
		s.mu.Unlock()
		resetStream(str, GoingAwayError)
		return
	}
	if s.announceStreams >= s.config.maxAnnounceStreams() {
		s.mu.Unlock()
		s.logger.Warn("moqt: too many announce streams, refusing one", "limit", s.config.maxAnnounceStreams())
		resetStream(str, TooManyError)
		return
	}
	s.announceStreams++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.announceStreams--
		s.mu.Unlock()
	}()

	prefix := joinPath(s.root, cleanPath(req.Prefix))
	type event struct {
		a      *Announcement
		active bool
	}
	var (
		mu     sync.Mutex
		queue  []event
		notify = make(chan struct{}, 1)
	)
	push := func(a *Announcement, active bool) {
		if a.hasHop(req.ExcludeHop) {
			return // split horizon: never reflect the requester's own broadcasts
		}
		mu.Lock()
		queue = append(queue, event{a, active})
		mu.Unlock()
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	initial, cancel := s.mux.watch(prefix, push)
	defer cancel()
	// Events that raced in after the snapshot follow the initial set.
	initialEvents := make([]event, 0, len(initial))
	for _, a := range initial {
		if !a.hasHop(req.ExcludeHop) {
			initialEvents = append(initialEvents, event{a, true})
		}
	}
	nInitial := len(initialEvents)
	mu.Lock()
	queue = append(initialEvents, queue...)
	mu.Unlock()

	// The peer ends the request by closing or resetting its side.
	peerGone := make(chan struct{})
	s.goFunc(func() {
		io.Copy(io.Discard, r)
		close(peerGone)
	})

	// Unless the peer ended the request, stop reading its side too, so that
	// the reader goroutine ends with this function.
	peerEnded := false
	defer func() {
		if !peerEnded {
			resetStream(str, CancelledError)
		}
	}()
	var buf []byte
	if s.version >= wire.Lite05 {
		ok := wire.AnnounceOK{Origin: s.origin, ActiveCount: uint64(nInitial)}
		buf = ok.Append(buf[:0], s.version)
		if _, err := str.Write(buf); err != nil {
			return
		}
	}
	live := make(map[string]bool) // suffixes announced active
	for {
		mu.Lock()
		batch := queue
		queue = nil
		mu.Unlock()
		buf = buf[:0]
		for _, ev := range batch {
			suffix, _ := stripPrefix(ev.a.path, prefix)
			if ev.active == live[suffix] {
				continue // no change to report (a replaced broadcast is reported as ended first)
			}
			m := wire.Announce{Suffix: suffix}
			if ev.active {
				m.Status = 1
				m.Hops = s.outgoingHops(ev.a.hops)
				live[suffix] = true
			} else {
				delete(live, suffix)
			}
			buf = m.Append(buf, s.version)
		}
		if len(buf) > 0 {
			if _, err := str.Write(buf); err != nil {
				return
			}
		}
		select {
		case <-notify:
		case <-peerGone:
			peerEnded = true
			str.Close()
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// outgoingHops is the hop chain of an announcement we send: on 03/04 the
// publisher appends its own ID; on 05 the receiver appends ours from
// ANNOUNCE_OK.
func (s *Session) outgoingHops(hops []uint64) []uint64 {
	if len(hops) >= wire.MaxHops {
		hops = hops[len(hops)-wire.MaxHops+1:]
	}
	if s.version >= wire.Lite05 {
		return hops
	}
	out := make([]uint64, len(hops), len(hops)+1)
	copy(out, hops)
	return append(out, s.origin)
}

// badStream resets a stream whose request could not be read: bad bytes are
// a protocol violation of the session; a transport error ends the stream.
func (s *Session) badStream(str quic.Stream, what string, err error) {
	if isProtocolError(err) {
		s.logger.Warn("moqt: malformed request, resetting stream", "stream", str.StreamID(), "what", what, "error", err)
		resetStream(str, ProtocolViolationStreamError)
		return
	}
	resetStream(str, CancelledError)
}

// trackInfo asks the mux for a track's properties.
func (s *Session) trackInfo(broadcast string, track string) (TrackInfo, error) {
	return s.mux.TrackInfo(BroadcastPath("/"+broadcast), TrackName(track))
}

func errCode(err error) StreamErrorCode {
	var se *SubscribeError
	if errors.As(err, &se) {
		return se.Code
	}
	return InternalStreamError
}

// serveTrackInfo answers a moq-lite-05 TRACK request with TRACK_INFO.
func (s *Session) serveTrackInfo(str quic.Stream, r *wire.Reader) {
	var req wire.Track
	if err := readMessage(r, &req, s.version); err != nil {
		s.badStream(str, "TRACK", err)
		return
	}
	path := joinPath(s.root, cleanPath(req.Broadcast))
	info, err := s.trackInfo(path, req.Track)
	if err != nil {
		resetStream(str, errCode(err))
		return
	}
	m := wire.TrackInfo{
		Priority:     info.Priority,
		Ordered:      info.Ordered,
		MaxLatencyMs: uint64(info.MaxLatency / time.Millisecond),
		Timescale:    info.timescale(),
	}
	if _, err := str.Write(m.Append(nil, s.version)); err != nil {
		return
	}
	str.Close()
	str.CancelRead(quic.StreamErrorCode(CancelledError))
}

// serveSubscribe serves one subscription of the peer with the mux.
func (s *Session) serveSubscribe(str quic.Stream, r *wire.Reader) {
	var req wire.Subscribe
	if err := readMessage(r, &req, s.version); err != nil {
		s.badStream(str, "SUBSCRIBE", err)
		return
	}
	s.mu.Lock()
	if s.goingAway {
		s.mu.Unlock()
		resetStream(str, GoingAwayError)
		return
	}
	if s.served >= s.config.maxSubscriptions() {
		s.mu.Unlock()
		s.logger.Warn("moqt: too many subscriptions, refusing one", "limit", s.config.maxSubscriptions())
		resetStream(str, TooManyError)
		return
	}
	s.served++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.served--
		s.mu.Unlock()
	}()

	path := joinPath(s.root, cleanPath(req.Broadcast))
	info, err := s.trackInfo(path, req.Track)
	if err != nil {
		s.logger.Debug("moqt: refusing subscription", "broadcast", path, "track", req.Track, "error", err)
		resetStream(str, errCode(err))
		return
	}
	tw := &TrackWriter{
		sess:   s,
		id:     req.ID,
		path:   path,
		name:   req.Track,
		stream: str,
		info:   info,
		config: configFromWire(req.Priority, req.Ordered, req.MaxLatencyMs, req.StartGroup, req.HasStart, req.EndGroup, req.HasEnd),
	}
	tw.ctx, tw.cancel = context.WithCancelCause(s.ctx)
	defer tw.cancel(nil)
	if s.version < wire.Lite05 {
		ok := wire.SubscribeOK{
			Priority:     info.Priority,
			Ordered:      info.Ordered,
			MaxLatencyMs: uint64(info.MaxLatency / time.Millisecond),
		}
		if _, err := str.Write(ok.Append(nil, s.version)); err != nil {
			return
		}
	}
	// Read SUBSCRIBE_UPDATEs until the subscriber ends the subscription.
	s.goFunc(func() {
		for {
			var u wire.SubscribeUpdate
			if err := readMessage(r, &u, s.version); err != nil {
				if isProtocolError(err) {
					s.logger.Warn("moqt: malformed SUBSCRIBE_UPDATE", "stream", str.StreamID(), "error", err)
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					str.CancelRead(quic.StreamErrorCode(CancelledError))
				}
				tw.cancel(&SubscribeError{Code: CancelledError, Remote: true})
				return
			}
			tw.setConfig(configFromWire(u.Priority, u.Ordered, u.MaxLatencyMs, u.StartGroup, u.HasStart, u.EndGroup, u.HasEnd))
		}
	})
	s.mux.ServeTrack(tw)
	tw.Close()
	// The subscriber normally closes its side once it has read the end;
	// give it a moment, then stop reading so the reader goroutine ends.
	str.SetReadDeadline(time.Now().Add(subscribeCloseGrace))
}

// subscribeCloseGrace is how long a finished subscription waits for the
// subscriber to close its side of the stream.
const subscribeCloseGrace = 5 * time.Second

func configFromWire(prio uint8, ordered bool, latencyMs uint64, start uint64, hasStart bool, end uint64, hasEnd bool) TrackConfig {
	c := TrackConfig{Priority: prio, Ordered: ordered, MaxLatency: time.Duration(latencyMs) * time.Millisecond}
	if hasStart {
		c.StartGroup = &start
	}
	if hasEnd {
		c.EndGroup = &end
	}
	return c
}

// TrackWriter writes one subscription of a track: the publisher opens a
// group at a time (or several, concurrently) and writes frames to it.
// Its methods are safe for concurrent use.
type TrackWriter struct {
	sess   *Session
	id     uint64
	path   string
	name   string
	stream quic.Stream
	info   TrackInfo

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	config  TrackConfig
	started bool // SUBSCRIBE_START sent (05)
	next    uint64
	groups  map[*GroupWriter]struct{}
	closed  bool
}

// BroadcastPath returns the path of the broadcast in the TrackMux.
func (w *TrackWriter) BroadcastPath() BroadcastPath { return BroadcastPath("/" + w.path) }

// TrackName returns the subscribed track's name.
func (w *TrackWriter) TrackName() TrackName { return TrackName(w.name) }

// Info returns the track's properties as announced to the subscriber.
func (w *TrackWriter) Info() TrackInfo { return w.info }

// Config returns what the subscriber currently asks for.
func (w *TrackWriter) Config() TrackConfig {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.config
}

func (w *TrackWriter) setConfig(c TrackConfig) {
	w.mu.Lock()
	w.config = c
	w.mu.Unlock()
}

// Context returns a context cancelled when the subscriber unsubscribes, the
// track is closed, or the session ends.
func (w *TrackWriter) Context() context.Context { return w.ctx }

// Session returns the session of the subscription.
func (w *TrackWriter) Session() *Session { return w.sess }

// OpenGroup opens group seq on its own stream. It waits for stream credit
// from the subscriber. Newer groups are sent before older ones.
func (w *TrackWriter) OpenGroup(seq uint64) (*GroupWriter, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosedTrack
	}
	w.mu.Unlock()
	w.sess.mu.Lock()
	goingAway := w.sess.goingAway
	w.sess.mu.Unlock()
	if goingAway {
		return nil, &SubscribeError{Code: GoingAwayError}
	}
	str, err := w.sess.conn.OpenUniStreamSync(w.ctx)
	if err != nil {
		return nil, w.writeErr(err)
	}
	urgency := w.urgency()
	if p, ok := str.(quic.Prioritizer); ok {
		p.SetPriority(urgency, false)
	}
	g := &GroupWriter{track: w, seq: seq, stream: str}
	b := wire.AppendVarint(g.hdr[:0], wire.StreamGroup)
	h := wire.GroupHeader{SubscribeID: w.id, Sequence: seq}
	b = h.Append(b, w.sess.version)
	if _, err := str.Write(b); err != nil {
		str.CancelWrite(quic.StreamErrorCode(CancelledError))
		return nil, w.writeErr(err)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		str.CancelWrite(quic.StreamErrorCode(CancelledError))
		return nil, ErrClosedTrack
	}
	if w.sess.version >= wire.Lite05 && !w.started {
		w.started = true
		m := wire.SubscribeStart{Group: seq}
		if _, err := w.stream.Write(m.Append(nil, w.sess.version)); err != nil {
			str.CancelWrite(quic.StreamErrorCode(CancelledError))
			return nil, w.writeErr(err)
		}
	}
	if seq >= w.next {
		w.next = seq + 1
	}
	// Newer groups first: demote the groups still open.
	for og := range w.groups {
		if p, ok := og.stream.(quic.Prioritizer); ok {
			p.SetPriority(min(urgency+1, 7), false)
		}
	}
	if w.groups == nil {
		w.groups = make(map[*GroupWriter]struct{})
	}
	w.groups[g] = struct{}{}
	w.sess.inflight.Add(1)
	return g, nil
}

// urgency maps the subscriber's priority (0-255, higher first) to a QUIC
// stream urgency (0-6, lower first), leaving 7 for demoted older groups.
func (w *TrackWriter) urgency() int8 {
	w.mu.Lock()
	p := w.config.Priority
	w.mu.Unlock()
	return int8(6 - int(p)*6/255)
}

func (w *TrackWriter) writeErr(err error) error {
	if c := context.Cause(w.ctx); c != nil {
		return c
	}
	if se := sessionErrorFrom(err); se != nil {
		return se
	}
	if code, remote, ok := streamCode(err); ok {
		return &SubscribeError{Code: code, Remote: remote}
	}
	return err
}

func (w *TrackWriter) groupClosed(g *GroupWriter) {
	w.mu.Lock()
	_, ok := w.groups[g]
	delete(w.groups, g)
	w.mu.Unlock()
	if ok {
		w.sess.groupDone()
	}
}

// Close finishes the track: groups still open are finished, then the
// subscriber is told that the track ended (on moq-lite-05, SUBSCRIBE_END
// with the next group sequence) and the subscription stream is finished.
func (w *TrackWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	open := w.openGroupsLocked()
	w.mu.Unlock()
	for _, g := range open {
		g.Close()
	}
	var err error
	if w.sess.version >= wire.Lite05 {
		m := wire.SubscribeEnd{Group: w.next}
		_, err = w.stream.Write(m.Append(nil, w.sess.version))
	}
	if err == nil {
		err = w.stream.Close()
	}
	w.cancel(ErrClosedTrack)
	if err != nil {
		return w.writeErr(err)
	}
	return nil
}

// CloseWithError ends the track with an error code: open groups and the
// subscription are reset.
func (w *TrackWriter) CloseWithError(code StreamErrorCode) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	open := w.openGroupsLocked()
	w.mu.Unlock()
	for _, g := range open {
		g.CancelWrite(code)
	}
	resetStream(w.stream, code)
	w.cancel(&SubscribeError{Code: code})
	return nil
}

func (w *TrackWriter) openGroupsLocked() []*GroupWriter {
	open := make([]*GroupWriter, 0, len(w.groups))
	for g := range w.groups {
		open = append(open, g)
	}
	return open
}

// GroupWriter writes the frames of one group.
type GroupWriter struct {
	track  *TrackWriter
	seq    uint64
	stream quic.SendStream
	hdr    [32]byte
	lastTS uint64
	mu     sync.Mutex
	done   bool
}

// GroupSequence returns the group's sequence number.
func (g *GroupWriter) GroupSequence() uint64 { return g.seq }

// WriteFrame writes one frame. It blocks while the subscriber's connection
// cannot take more data. The frame is not retained after WriteFrame returns.
func (g *GroupWriter) WriteFrame(f *Frame) error {
	v := g.track.sess.version
	var delta int64
	if v >= wire.Lite05 {
		delta = int64(f.Timestamp - g.lastTS)
		g.lastTS = f.Timestamp
	}
	// A small frame goes out in one Write, so that its header and payload
	// share a packet: quic-go may send the bytes of each Write as soon as
	// it gets them.
	if len(f.Payload) <= maxCoalesce {
		bp := coalescePool.Get().(*[]byte)
		b := wire.AppendFrameHeader((*bp)[:0], v, delta, len(f.Payload))
		b = append(b, f.Payload...)
		_, err := g.stream.Write(b)
		*bp = b
		coalescePool.Put(bp)
		if err != nil {
			return g.writeErr(err)
		}
		return nil
	}
	b := wire.AppendFrameHeader(g.hdr[:0], v, delta, len(f.Payload))
	if _, err := g.stream.Write(b); err != nil {
		return g.writeErr(err)
	}
	if _, err := g.stream.Write(f.Payload); err != nil {
		return g.writeErr(err)
	}
	return nil
}

// maxCoalesce is the largest payload WriteFrame copies to write it with its
// header; larger ones are written in place.
const maxCoalesce = 4 << 10

var coalescePool = sync.Pool{New: func() any {
	b := make([]byte, 0, maxCoalesce+16)
	return &b
}}

func (g *GroupWriter) writeErr(err error) error {
	if code, remote, ok := streamCode(err); ok {
		return &GroupError{Code: code, Remote: remote}
	}
	return g.track.writeErr(err)
}

// Close finishes the group.
func (g *GroupWriter) Close() error {
	if !g.finish() {
		return nil
	}
	err := g.stream.Close()
	g.track.groupClosed(g)
	if err != nil {
		return g.writeErr(err)
	}
	return nil
}

// CancelWrite abandons the group: the subscriber sees it reset with code.
func (g *GroupWriter) CancelWrite(code StreamErrorCode) {
	if !g.finish() {
		return
	}
	g.stream.CancelWrite(quic.StreamErrorCode(code))
	g.track.groupClosed(g)
}

func (g *GroupWriter) finish() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return false
	}
	g.done = true
	return true
}
