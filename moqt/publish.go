package moqt

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
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
	s.runAnnounce(str, r, announceSpec{
		prefix:     cleanPath(req.Prefix),
		excludeHop: req.ExcludeHop,
		refuse:     func(code StreamErrorCode) { resetStream(str, code) },
		hello: func(active int) []byte {
			if s.version < wire.Lite05 {
				return nil
			}
			ok := wire.AnnounceOK{Origin: s.origin, ActiveCount: uint64(active)}
			return ok.Append(nil, s.version)
		},
		entry: func(b []byte, suffix string, active bool, hops []uint64) []byte {
			m := wire.Announce{Suffix: suffix}
			if active {
				m.Status = 1
				m.Hops = s.outgoingHops(hops)
			}
			return m.Append(b, s.version)
		},
	})
}

// announceSpec is what differs between the announcement protocols that
// runAnnounce serves.
type announceSpec struct {
	prefix     string // requested, relative to the session's root
	excludeHop uint64
	// refuse ends the request with code.
	refuse func(code StreamErrorCode)
	// hello is written before the first announcements, given how many
	// are active (nil: nothing).
	hello func(active int) []byte
	// entry appends the announcement of suffix (active or ended).
	entry func(b []byte, suffix string, active bool, hops []uint64) []byte
}

// runAnnounce serves an announcement request: the mux's announcements
// under the prefix, then every change, until the peer closes the stream
// (read through r) or the session ends.
func (s *Session) runAnnounce(str quic.Stream, r io.Reader, spec announceSpec) {
	req := struct{ ExcludeHop uint64 }{spec.excludeHop}
	s.mu.Lock()
	if s.goingAway {
		s.mu.Unlock()
		spec.refuse(GoingAwayError)
		return
	}
	if s.announceStreams >= s.config.maxAnnounceStreams() {
		s.mu.Unlock()
		s.logger.Warn("moqt: too many announce streams, refusing one", "limit", s.config.maxAnnounceStreams())
		spec.refuse(TooManyError)
		return
	}
	s.announceStreams++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.announceStreams--
		s.mu.Unlock()
	}()

	prefix := joinPath(s.root, spec.prefix)
	if s.canDiscover != nil && !s.canDiscover(BroadcastPath("/"+prefix)) {
		s.logger.Info("moqt: refusing an announce request the session may not see", "prefix", prefix)
		spec.refuse(UnauthorizedError)
		return
	}
	// Changes not yet written, one entry per path holding its latest
	// state, so a mux that churns while the peer reads slowly costs one
	// entry per broadcast, not one per change.
	type change struct {
		a       *Announcement
		active  bool
		restart bool // ended and announced again since the last write
	}
	var (
		mu      sync.Mutex
		pending = map[string]*change{}
		order   []string
		notify  = make(chan struct{}, 1)
	)
	push := func(a *Announcement, active bool) {
		if a.hasHop(req.ExcludeHop) {
			return // split horizon: never reflect the requester's own broadcasts
		}
		if !s.maySubscribe(a.path) {
			return
		}
		mu.Lock()
		c := pending[a.path]
		if c == nil {
			c = &change{}
			pending[a.path] = c
			order = append(order, a.path)
		} else if active && !c.active {
			c.restart = true
		}
		c.a, c.active = a, active
		mu.Unlock()
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	initial, cancel := s.mux.watch(prefix, push)
	defer cancel()
	nInitial := 0
	for _, a := range initial {
		if !a.hasHop(req.ExcludeHop) && s.maySubscribe(a.path) {
			nInitial++
			mu.Lock()
			if pending[a.path] == nil { // a change that raced in is newer
				pending[a.path] = &change{a: a, active: true}
				order = append(order, a.path)
			}
			mu.Unlock()
		}
	}

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
	if hello := spec.hello(nInitial); len(hello) > 0 {
		if _, err := str.Write(hello); err != nil {
			return
		}
	}
	live := make(map[string]bool) // suffixes announced active
	for {
		mu.Lock()
		batch := make([]change, 0, len(order))
		for _, p := range order {
			batch = append(batch, *pending[p])
		}
		clear(pending)
		order = order[:0]
		mu.Unlock()
		buf = buf[:0]
		for _, ev := range batch {
			suffix, _ := stripPrefix(ev.a.path, prefix)
			if ev.restart && live[suffix] {
				// Replaced: its end first (03/04 peers refuse a second active).
				buf = spec.entry(buf, suffix, false, nil)
				delete(live, suffix)
			}
			if ev.active == live[suffix] {
				continue // no change to report
			}
			if ev.active {
				live[suffix] = true
			} else {
				delete(live, suffix)
			}
			buf = spec.entry(buf, suffix, ev.active, ev.a.hops)
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
	if !s.maySubscribe(path) {
		s.logger.Info("moqt: refusing a track request the session may not subscribe to", "broadcast", path, "track", req.Track)
		resetStream(str, UnauthorizedError)
		return
	}
	info, err := s.trackInfo(path, req.Track)
	if err != nil {
		resetStream(str, errCode(err))
		return
	}
	m := wire.TrackInfo{
		Priority:     info.Priority,
		Ordered:      info.Ordered,
		MaxLatencyMs: uint64(s.advertisedLatency(info) / time.Millisecond),
		Timescale:    info.timescale(),
	}
	if _, err := str.Write(m.Append(nil, s.version)); err != nil {
		return
	}
	str.Close()
	str.CancelRead(quic.StreamErrorCode(CancelledError))
}

// advertisedLatency is the latency bound told to subscribers: the track's,
// else Config.MaxLatency, the bound its groups are dropped by when the
// subscriber names none. Never 0, which @moq/net reads as "drop a group as
// soon as a newer one arrives".
func (s *Session) advertisedLatency(info TrackInfo) time.Duration {
	if info.MaxLatency > 0 {
		return info.MaxLatency
	}
	return s.config.maxLatency()
}

// serveSubscribe serves one subscription of the peer with the mux. It
// returns once the subscription is over: the track was sent to its end (and
// the subscriber closed its side, acknowledging it), was reset, or the
// session ended.
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
	defer s.subscriptionServed()

	path := joinPath(s.root, cleanPath(req.Broadcast))
	if !s.maySubscribe(path) {
		s.logger.Info("moqt: refusing a subscription the session may not make", "broadcast", path, "track", req.Track)
		resetStream(str, UnauthorizedError)
		return
	}
	info, err := s.trackInfo(path, req.Track)
	if err != nil {
		s.logger.Debug("moqt: refusing subscription", "broadcast", path, "track", req.Track, "error", err)
		resetStream(str, errCode(err))
		return
	}
	tw := newTrackWriter(s, req.ID, path, req.Track, str, info,
		configFromWire(req.Priority, req.Ordered, req.MaxLatencyMs, req.StartGroup, req.HasStart, req.EndGroup, req.HasEnd))
	defer tw.cancel(ErrClosedTrack)
	if s.version < wire.Lite05 {
		ok := wire.SubscribeOK{
			Priority:     info.Priority,
			Ordered:      info.Ordered,
			MaxLatencyMs: uint64(s.advertisedLatency(info) / time.Millisecond),
		}
		if _, err := str.Write(ok.Append(nil, s.version)); err != nil {
			return
		}
	}
	// Read SUBSCRIBE_UPDATEs until the subscriber ends its side: before
	// our end that unsubscribes; after it, it acknowledges the end.
	peerDone := make(chan struct{})
	s.goFunc(func() {
		defer close(peerDone)
		for {
			var u wire.SubscribeUpdate
			if err := readMessage(r, &u, s.version); err != nil {
				if isProtocolError(err) {
					s.logger.Warn("moqt: malformed SUBSCRIBE_UPDATE", "stream", str.StreamID(), "error", err)
					str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
				}
				tw.cancel(&SubscribeError{Code: CancelledError, Remote: true})
				return
			}
			tw.setConfig(configFromWire(u.Priority, u.Ordered, u.MaxLatencyMs, u.StartGroup, u.HasStart, u.EndGroup, u.HasEnd))
		}
	})
	s.serveTrackWriter(tw, str, peerDone)
}

// serveTrackWriter runs a subscription we serve to its end: the sender, the
// mux's handler, and the wait for the subscriber to close its side
// (peerDone is closed when the goroutine reading that side returns).
func (s *Session) serveTrackWriter(tw *TrackWriter, str quic.Stream, peerDone chan struct{}) {
	s.goFunc(tw.run)
	// The handler is user code: the session does not wait for it once the
	// subscription or the session is over (its Context is then done).
	go func() {
		s.mux.ServeTrack(tw)
		tw.Close()
	}()
	// The track is over when the sender sent its end (after Close, or
	// once the subscriber's EndGroup was reached) or it was cancelled.
	select {
	case <-tw.sent:
	case <-tw.ctx.Done():
	}
	tw.cancel(ErrClosedTrack) // the handler's Context ends with the track
	// Wait for the subscriber to close its side: it has then read our end
	// and every group (Shutdown waits for this). A subscriber that reset
	// the subscription has closed it already.
	select {
	case <-peerDone:
	case <-s.ctx.Done():
		str.CancelRead(quic.StreamErrorCode(CancelledError))
		<-peerDone
	}
}

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

// TrackWriter serves one subscription of a track. The publisher hands it
// groups (OpenGroup, or SendGroup for groups shared among subscriptions);
// the TrackWriter queues them and sends them on their own streams, in the
// order the subscriber asked for: oldest first when TrackConfig.Ordered is
// set, newest first otherwise. Handing it a group never waits for the
// network.
//
// A group is dropped for this subscriber only when a newer group exists and
// the group's oldest frame not yet sent is older than the subscription's
// latency bound (TrackConfig.MaxLatency, else TrackInfo.MaxLatency, else
// Config.MaxLatency), or when the bytes queued exceed Config.MaxTrackBuffer
// (the oldest go first; the newest group is never dropped for it). A
// dropped group that was being sent is reset with OldGroupError, and on
// moq-lite-05 every dropped sequence is also reported with SUBSCRIBE_DROP
// (03 and 04 subscribers do not read it). Every drop is counted (Stats) and logged at debug.
//
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
	sent   chan struct{} // closed when the sender finished the subscription stream

	mu        sync.Mutex // guards the fields below; never held across I/O
	config    TrackConfig
	queue     []*GroupBuffer // handed to us, not yet opened
	active    map[*groupSend]struct{}
	newest    uint64 // highest sequence handed to us
	hasNewest bool
	handled   intervals  // sequences sent or dropped
	dropped   []seqRange // dropped groups not reported yet
	stats     TrackWriterStats
	closed    bool   // Close or CloseWithError called
	streams   uint64 // group streams opened (IETF PUBLISH_DONE's Stream Count)
	updated   int    // IETF: REQUEST_UPDATEs applied and not yet answered with REQUEST_OK
	wake      chan struct{}
}

// TrackWriterStats counts what a TrackWriter did with the groups it was
// given.
type TrackWriterStats struct {
	Groups  uint64 // groups handed to the writer (OpenGroup, SendGroup)
	Sent    uint64 // groups sent to their end
	Dropped uint64 // groups dropped: TooFarBehind + OverBudget + NeverReceived
	Skipped uint64 // groups outside the subscription's StartGroup..EndGroup, or handed twice

	// TooFarBehind counts the groups dropped for being further behind the
	// newest group than the subscription's latency bound.
	TooFarBehind uint64
	// OverBudget counts the groups dropped because the bytes queued for
	// the subscriber exceeded Config.MaxTrackBuffer.
	OverBudget uint64
	// NeverReceived counts the sequences the writer was never handed that
	// it reported dropped to a moq-lite-05 subscriber: gaps below a group
	// sent to an ordered subscriber, and at the end of the track.
	NeverReceived uint64

	Frames uint64 // frames written to the subscriber's group streams
	Bytes  uint64 // payload bytes of those frames
}

// groupSend is a group being written on its stream by its own goroutine.
type groupSend struct {
	g       *GroupBuffer
	str     quic.SendStream
	stop    chan struct{} // closed when the sender drops the group
	written atomic.Int64  // frames written
	wbytes  atomic.Int64  // payload bytes written
	dropped atomic.Bool
}

func newTrackWriter(s *Session, id uint64, path, name string, str quic.Stream, info TrackInfo, config TrackConfig) *TrackWriter {
	tw := &TrackWriter{
		sess:   s,
		id:     id,
		path:   path,
		name:   name,
		stream: str,
		info:   info,
		config: config,
		sent:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
		active: make(map[*groupSend]struct{}),
	}
	tw.ctx, tw.cancel = context.WithCancelCause(s.ctx)
	return tw
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

// Stats returns the writer's counters.
func (w *TrackWriter) Stats() TrackWriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stats
	// The groups being written count their frames in their groupSend
	// until they end (then in w.stats).
	for gs := range w.active {
		st.Frames += uint64(gs.written.Load())
		st.Bytes += uint64(gs.wbytes.Load())
	}
	return st
}

// updateApplied has the sender answer one more REQUEST_UPDATE (IETF) with
// REQUEST_OK, on the subscription stream it owns.
func (w *TrackWriter) updateApplied() {
	w.mu.Lock()
	w.updated++
	w.mu.Unlock()
	w.signal()
}

func (w *TrackWriter) setConfig(c TrackConfig) {
	w.mu.Lock()
	w.config = c
	w.mu.Unlock()
	w.signal()
}

func (w *TrackWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Context returns a context cancelled when the subscriber unsubscribes, the
// track is reset, or the session ends.
func (w *TrackWriter) Context() context.Context { return w.ctx }

// Session returns the session of the subscription.
func (w *TrackWriter) Session() *Session { return w.sess }

// OpenGroup starts group seq and returns its writer. The group is queued at
// once; it goes out on its own stream when the subscriber's order and stream
// credit allow. OpenGroup fails once the track is closed, the session is
// going away, or ctx is done.
func (w *TrackWriter) OpenGroup(ctx context.Context, seq uint64) (*GroupWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := NewGroupBuffer(seq)
	if err := w.SendGroup(b); err != nil {
		return nil, err
	}
	return &GroupWriter{buf: b, track: w}, nil
}

// SendGroup queues b to be sent to this subscriber, following its frames as
// they are appended until it is closed or aborted. One GroupBuffer may be
// sent to many subscriptions at once. A group outside the subscription's
// StartGroup..EndGroup is skipped (not an error).
func (w *TrackWriter) SendGroup(b *GroupBuffer) error {
	if c := context.Cause(w.ctx); c != nil {
		return w.writeErr(c)
	}
	w.sess.mu.Lock()
	goingAway := w.sess.goingAway
	w.sess.mu.Unlock()
	if goingAway {
		return &SubscribeError{Code: GoingAwayError}
	}
	seq := b.Sequence()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosedTrack
	}
	w.stats.Groups++
	c := w.config
	if (c.StartGroup != nil && seq < *c.StartGroup) || (c.EndGroup != nil && seq > *c.EndGroup) {
		w.stats.Skipped++
		w.mu.Unlock()
		return nil
	}
	if w.handled.has(seq) {
		// Already sent, or reported dropped: the subscriber's accounting
		// has it.
		w.stats.Skipped++
		w.mu.Unlock()
		return nil
	}
	if !w.hasNewest || seq > w.newest {
		w.newest, w.hasNewest = seq, true
	}
	w.queue = append(w.queue, b)
	w.mu.Unlock()
	w.signal()
	return nil
}

func (w *TrackWriter) writeErr(err error) error {
	if c := context.Cause(w.ctx); c != nil {
		if c == ErrClosedTrack {
			return c
		}
		err = c
	}
	if se := sessionErrorFrom(err); se != nil {
		return se
	}
	if code, remote, ok := w.sess.streamCode(err); ok {
		return &SubscribeError{Code: code, Remote: remote}
	}
	return err
}

// Close ends the track: the groups already handed to the writer are still
// sent (or dropped by the rules above), then the subscriber is told that
// the track ended (SUBSCRIBE_END on moq-lite-05, after SUBSCRIBE_DROP for any
// sequence in between that it was not sent) and the subscription stream is
// finished. Close does not wait for that: the session does.
func (w *TrackWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.signal()
	return nil
}

// CloseWithError ends the track at once with an error code: the queued and
// open groups and the subscription are reset.
func (w *TrackWriter) CloseWithError(code StreamErrorCode) error {
	w.mu.Lock()
	if w.closed && w.ctx.Err() != nil {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.sess.reset(w.stream, code)
	w.cancel(&SubscribeError{Code: code})
	return nil
}

// latencyLocked is the subscription's latency bound.
func (w *TrackWriter) latencyLocked() time.Duration {
	if w.config.MaxLatency > 0 {
		return w.config.MaxLatency
	}
	if w.info.MaxLatency > 0 {
		return w.info.MaxLatency
	}
	return w.sess.config.maxLatency()
}

// run is the subscription's sender: the one goroutine that opens its group
// streams, in the subscriber's order, decides what to drop, and writes the
// subscription stream (SUBSCRIBE_START, _DROP and _END, and its FIN).
func (w *TrackWriter) run() {
	// A write blocked when the subscription ends returns at once:
	// webtransport-go can otherwise hold a Write on a stream of a session
	// that is going away until the session's CONNECT stream closes.
	stop := context.AfterFunc(w.ctx, func() { w.stream.SetWriteDeadline(time.Now()) })
	defer stop()
	v := w.sess.version
	started := false
	var start uint64
	var buf []byte
	defer func() {
		// Whatever is still queued is abandoned with the track; the open
		// groups' writers stop on the cancelled context.
		w.mu.Lock()
		w.queue = nil
		w.mu.Unlock()
	}()
	for {
		w.mu.Lock()
		cancels := w.dropLocked()
		next := w.pickLocked()
		if next != nil && started && w.config.Ordered && v >= wire.Lite05 {
			// Ordered: the sequences below this group that we never got
			// will not be sent in order; report them now, so that the
			// subscriber need not wait for them.
			for _, g := range w.handled.gaps(start, next.Sequence()) {
				w.handled.add(g.lo, g.hi)
				w.dropped = append(w.dropped, g)
				w.stats.Dropped += g.hi - g.lo + 1
				w.stats.NeverReceived += g.hi - g.lo + 1
				w.sess.logger.Debug("moqt: reporting groups never received as dropped", "broadcast", w.path, "track", w.name, "from", g.lo, "to", g.hi)
			}
		}
		drops := w.dropped
		w.dropped = nil
		updated := w.updated
		w.updated = 0
		finished := next == nil && w.closed && len(w.queue) == 0 && len(w.active) == 0
		if !finished && next == nil && w.config.EndGroup != nil && len(w.queue) == 0 && len(w.active) == 0 {
			// Every group up to the requested end was handled.
			if m, ok := w.handled.max(); ok && m >= *w.config.EndGroup {
				finished, w.closed = true, true
			}
		}
		var gaps []seqRange
		var end uint64
		if finished && v >= wire.Lite05 && started {
			end = start
			if m, ok := w.handled.max(); ok && m+1 > end {
				end = m + 1
			}
			gaps = w.handled.gaps(start, end)
			for _, g := range gaps {
				w.stats.Dropped += g.hi - g.lo + 1
				w.stats.NeverReceived += g.hi - g.lo + 1
			}
		}
		w.mu.Unlock()

		for _, gs := range cancels {
			gs.str.CancelWrite(w.sess.wireCode(OldGroupError))
			close(gs.stop)
		}
		buf = buf[:0]
		if v >= wire.Lite05 && started {
			for _, d := range append(drops, gaps...) {
				m := wire.SubscribeDrop{Start: d.lo, End: d.hi, ErrorCode: uint64(OldGroupError)}
				buf = m.Append(buf, v)
			}
		}
		if iv := w.sess.ietf.v; iv != 0 {
			for range updated {
				m := ietf.RequestOK{}
				buf = m.Append(buf, iv)
			}
		}
		if next != nil && v >= wire.Lite05 && !started {
			started = true
			start = w.startSeq(next.Sequence())
			m := wire.SubscribeStart{Group: start}
			buf = m.Append(buf, v)
		}
		if finished {
			if v >= wire.Lite05 {
				m := wire.SubscribeEnd{Group: end}
				buf = m.Append(buf, v)
			}
			if iv := w.sess.ietf.v; iv != 0 && w.sess.peerReadsPublishDone() {
				w.mu.Lock()
				n := w.streams
				w.mu.Unlock()
				m := ietf.PublishDone{StatusCode: ietf.DoneTrackEnded.Wire(iv), StreamCount: n, Reason: "track ended"}
				buf = m.Append(buf, iv)
			}
		}
		if len(buf) > 0 {
			if _, err := w.stream.Write(buf); err != nil {
				w.cancel(w.writeErr(err))
				return
			}
		}
		if finished {
			w.stream.Close()
			close(w.sent)
			return
		}
		if next != nil {
			switch w.open(next) {
			case openFailed:
				return
			case openRetry:
				w.mu.Lock()
				w.queue = append(w.queue, next)
				w.mu.Unlock()
			}
			continue
		}
		select {
		case <-w.wake:
		case <-w.ctx.Done():
			return
		}
	}
}

// startSeq is the SUBSCRIBE_START sequence: the lowest group we will send,
// at the time of the first.
func (w *TrackWriter) startSeq(first uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := first
	for _, b := range w.queue {
		s = min(s, b.Sequence())
	}
	if w.config.StartGroup != nil {
		s = max(s, *w.config.StartGroup)
		s = min(s, first)
	}
	return s
}

// pickLocked takes the next group to open from the queue: the oldest when
// the subscriber asked for order, else the newest.
func (w *TrackWriter) pickLocked() *GroupBuffer {
	if len(w.queue) == 0 {
		return nil
	}
	best := 0
	for i, b := range w.queue {
		s, bs := b.Sequence(), w.queue[best].Sequence()
		if (w.config.Ordered && s < bs) || (!w.config.Ordered && s > bs) {
			best = i
		}
	}
	b := w.queue[best]
	w.queue = append(w.queue[:best], w.queue[best+1:]...)
	return b
}

// dropLocked applies the drop rules: it removes the queued groups to drop
// (recording them for SUBSCRIBE_DROP) and returns the open ones to reset.
func (w *TrackWriter) dropLocked() []*groupSend {
	if !w.hasNewest {
		return nil
	}
	now := clock()
	bound := int64(w.latencyLocked())
	var cancels []*groupSend
	keep := w.queue[:0]
	for _, b := range w.queue {
		if b.Sequence() < w.newest {
			t, ok := b.pendingSince(0)
			if !ok {
				t = b.created
			}
			if now-t > bound {
				w.stats.TooFarBehind++
				w.dropQueuedLocked(b, "too far behind", time.Duration(now-t))
				continue
			}
		}
		keep = append(keep, b)
	}
	clear(w.queue[len(keep):])
	w.queue = keep
	for gs := range w.active {
		if gs.dropped.Load() || gs.g.Sequence() >= w.newest {
			continue
		}
		t, ok := gs.g.pendingSince(int(gs.written.Load()))
		if ok && now-t > bound {
			w.stats.TooFarBehind++
			cancels = append(cancels, w.dropActiveLocked(gs, "too far behind", time.Duration(now-t)))
		}
	}
	// Over budget: the oldest groups (other than the newest) go first.
	for w.bufferedLocked() > w.sess.config.maxTrackBuffer() {
		var oldest *GroupBuffer
		var oldestSend *groupSend
		for _, b := range w.queue {
			if b.Sequence() != w.newest && (oldest == nil || b.Sequence() < oldest.Sequence()) {
				oldest = b
			}
		}
		for gs := range w.active {
			if !gs.dropped.Load() && gs.g.Sequence() != w.newest && (oldest == nil || gs.g.Sequence() < oldest.Sequence()) {
				oldest, oldestSend = gs.g, gs
			}
		}
		if oldest == nil {
			break
		}
		if oldestSend != nil {
			w.stats.OverBudget++
			cancels = append(cancels, w.dropActiveLocked(oldestSend, "over the track buffer budget", 0))
			continue
		}
		for i, b := range w.queue {
			if b == oldest {
				w.queue = append(w.queue[:i], w.queue[i+1:]...)
				break
			}
		}
		w.stats.OverBudget++
		w.dropQueuedLocked(oldest, "over the track buffer budget", 0)
	}
	return cancels
}

// bufferedLocked is the payload bytes handed to us and not yet written.
func (w *TrackWriter) bufferedLocked() int {
	n := 0
	for _, b := range w.queue {
		_, b := b.Len()
		n += b
	}
	for gs := range w.active {
		if !gs.dropped.Load() {
			_, b := gs.g.Len()
			n += b - int(gs.wbytes.Load())
		}
	}
	return n
}

func (w *TrackWriter) dropQueuedLocked(b *GroupBuffer, why string, behind time.Duration) {
	seq := b.Sequence()
	if w.handled.add(seq, seq) {
		w.dropped = append(w.dropped, seqRange{seq, seq})
	}
	w.stats.Dropped++
	w.sess.logger.Debug("moqt: dropping a group for a subscriber", "broadcast", w.path, "track", w.name, "group", seq, "reason", why, "behind", behind)
}

func (w *TrackWriter) dropActiveLocked(gs *groupSend, why string, behind time.Duration) *groupSend {
	gs.dropped.Store(true)
	w.stats.Dropped++
	// Also report it: a stream reset before its header went out never
	// reaches the subscriber, whose accounting still needs the sequence.
	seq := gs.g.Sequence()
	w.dropped = append(w.dropped, seqRange{seq, seq})
	w.sess.logger.Debug("moqt: resetting a group for a subscriber", "broadcast", w.path, "track", w.name, "group", gs.g.Sequence(), "reason", why, "behind", behind)
	return gs
}

type openResult int

const (
	opened     openResult = iota
	openRetry             // something changed while waiting for stream credit: decide again
	openFailed            // the subscription ended
)

// open opens b's stream, writes its header and starts its writer. While it
// waits for stream credit, any change (a new group, a finished one, Close)
// makes it give up with openRetry so that the sender decides again.
func (w *TrackWriter) open(b *GroupBuffer) openResult {
	seq := b.Sequence()
	str, err := w.sess.conn.OpenUniStream()
	if err != nil && w.ctx.Err() == nil && w.sess.conn.Context().Err() == nil {
		// No stream credit: wait for it, or for a reason to decide again.
		octx, ocancel := context.WithCancel(w.ctx)
		stop := make(chan struct{})
		retry := make(chan bool, 1)
		go func() {
			select {
			case <-w.wake:
				ocancel()
				retry <- true
			case <-stop:
				retry <- false
			}
		}()
		str, err = w.sess.conn.OpenUniStreamSync(octx)
		close(stop)
		woke := <-retry
		ocancel()
		if err != nil && woke && w.ctx.Err() == nil {
			return openRetry
		}
		if err == nil && woke {
			w.signal()
		}
	}
	if err != nil {
		w.cancel(w.writeErr(err))
		return openFailed
	}
	gs := &groupSend{g: b, str: str, stop: make(chan struct{})}
	var hdr []byte
	if iv := w.sess.ietf.v; iv != 0 {
		hdr = appendIETFGroupHeader(make([]byte, 0, 24), iv, w.id, seq, w.info.Priority)
	} else {
		hdr = wire.AppendVarint(make([]byte, 0, 24), wire.StreamGroup)
		h := wire.GroupHeader{SubscribeID: w.id, Sequence: seq}
		hdr = h.Append(hdr, w.sess.version)
	}
	if _, err := str.Write(hdr); err != nil {
		str.CancelWrite(quic.StreamErrorCode(CancelledError))
		w.cancel(w.writeErr(err))
		return openFailed
	}
	w.mu.Lock()
	w.handled.add(seq, seq)
	w.streams++
	w.active[gs] = struct{}{}
	w.mu.Unlock()
	w.sess.goFunc(func() { w.pump(gs) })
	return opened
}

// pump writes one group's frames to its stream as they are appended.
func (w *TrackWriter) pump(gs *groupSend) {
	v := w.sess.version
	iv := w.sess.ietf.v
	var lastTS uint64
	n := 0
	complete := false
	turn := &sendTurn{}
	sched := &w.sess.sched
	stop := context.AfterFunc(w.ctx, func() { gs.str.SetWriteDeadline(time.Now()) })
	defer stop()
	write := func(b []byte) error {
		for len(b) > 0 {
			chunk := b[:min(len(b), sendChunk)]
			w.mu.Lock()
			sub := w.config.Priority
			w.mu.Unlock()
			if !sched.acquire(turn, sub, w.info.Priority, gs.stop, w.ctx.Done()) {
				return ErrClosedTrack
			}
			_, err := gs.str.Write(chunk)
			if err != nil {
				return err
			}
			b = b[len(chunk):]
		}
		return nil
	}
	defer func() {
		sched.release(turn)
		w.mu.Lock()
		delete(w.active, gs)
		if complete {
			w.stats.Sent++
		}
		w.stats.Frames += uint64(n)
		w.stats.Bytes += uint64(gs.wbytes.Load())
		w.mu.Unlock()
		w.signal()
	}()
	for {
		frames, st, changed := gs.g.Frames(n)
		for _, f := range frames {
			if gs.dropped.Load() {
				return
			}
			var delta int64
			if v >= wire.Lite05 {
				delta = int64(f.Timestamp - lastTS)
				lastTS = f.Timestamp
			}
			var err error
			if iv != 0 {
				err = writeObject(write, f)
			} else {
				err = writeFrame(write, v, delta, f)
			}
			if err != nil {
				gs.str.CancelWrite(quic.StreamErrorCode(CancelledError))
				return
			}
			n++
			gs.written.Store(int64(n))
			gs.wbytes.Add(int64(len(f.Payload)))
		}
		if gs.dropped.Load() {
			return
		}
		if st.Done {
			if st.Aborted {
				gs.str.CancelWrite(w.sess.wireCode(st.Code))
				return
			}
			gs.str.Close()
			complete = true
			return
		}
		sched.release(turn) // nothing to write until more frames come
		select {
		case <-changed:
		case <-gs.stop:
			return
		case <-w.ctx.Done():
			gs.str.CancelWrite(quic.StreamErrorCode(CancelledError))
			return
		}
	}
}

// writeFrame writes one frame with write. A small frame goes out in one
// write, so that its header and payload share a packet: quic-go may send
// the bytes of each Write as soon as it gets them.
func writeFrame(write func([]byte) error, v wire.Version, delta int64, f *Frame) error {
	if len(f.Payload) <= maxCoalesce {
		bp := coalescePool.Get().(*[]byte)
		b := wire.AppendFrameHeader((*bp)[:0], v, delta, len(f.Payload))
		b = append(b, f.Payload...)
		err := write(b)
		*bp = b
		coalescePool.Put(bp)
		return err
	}
	var hdr [16]byte
	if err := write(wire.AppendFrameHeader(hdr[:0], v, delta, len(f.Payload))); err != nil {
		return err
	}
	return write(f.Payload)
}

// writeObject writes one frame as an IETF object of a subgroup stream.
func writeObject(write func([]byte) error, f *Frame) error {
	if len(f.Payload) <= maxCoalesce {
		bp := coalescePool.Get().(*[]byte)
		b := appendIETFObjectHeader((*bp)[:0], len(f.Payload), f.Timestamp)
		b = append(b, f.Payload...)
		err := write(b)
		*bp = b
		coalescePool.Put(bp)
		return err
	}
	var hdr [40]byte
	if err := write(appendIETFObjectHeader(hdr[:0], len(f.Payload), f.Timestamp)); err != nil {
		return err
	}
	return write(f.Payload)
}

// maxCoalesce is the largest payload writeFrame copies to write it with its
// header; larger ones are written in place.
const maxCoalesce = 4 << 10

var coalescePool = sync.Pool{New: func() any {
	b := make([]byte, 0, maxCoalesce+32)
	return &b
}}

// GroupWriter writes the frames of one group opened with OpenGroup.
type GroupWriter struct {
	buf   *GroupBuffer
	track *TrackWriter
}

// GroupSequence returns the group's sequence number.
func (g *GroupWriter) GroupSequence() uint64 { return g.buf.Sequence() }

// WriteFrame appends one frame to the group. It does not wait for the
// network: the frame is queued and sent when the subscriber can take it.
// The frame is kept: neither it nor its payload may be modified afterwards.
func (g *GroupWriter) WriteFrame(ctx context.Context, f *Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c := context.Cause(g.track.ctx); c != nil {
		return g.track.writeErr(c)
	}
	if !g.buf.Append(f) {
		return ErrClosedGroup
	}
	return nil
}

// Close finishes the group.
func (g *GroupWriter) Close() error {
	g.buf.Close()
	return nil
}

// CancelWrite abandons the group: the subscriber sees it reset with code.
func (g *GroupWriter) CancelWrite(code StreamErrorCode) {
	g.buf.Abort(code)
}
