package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
)

// Subscribe subscribes to the track name of the peer's broadcast at path.
// config may be nil. It returns once the peer accepted the subscription (on
// moq-lite-05, once it described the track with TRACK_INFO), or with a
// *SubscribeError if it refused it (NotFoundError for an unknown track).
// The wait is bounded by ctx and by Config.SetupTimeout.
func (s *Session) Subscribe(ctx context.Context, path BroadcastPath, name TrackName, config *TrackConfig) (*TrackReader, error) {
	if config == nil {
		config = &TrackConfig{}
	}
	if s.ctx.Err() != nil {
		return nil, s.err()
	}
	broadcast := cleanPath(string(path))
	ctx, cancel := context.WithTimeout(ctx, s.config.setupTimeout())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	if s.ietf.v != 0 {
		return s.subscribeIETF(ctx, broadcast, string(name), config)
	}

	var info TrackInfo
	if s.version >= wire.Lite05 {
		var err error
		info, err = s.requestTrackInfo(ctx, broadcast, string(name))
		if err != nil {
			return nil, s.ctxErr(ctx, err)
		}
	}

	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, s.ctxErr(ctx, s.openErr(err))
	}
	s.mu.Lock()
	id := s.nextSubID
	s.nextSubID++
	tr := &TrackReader{
		sess:    s,
		id:      id,
		path:    broadcast,
		name:    string(name),
		stream:  str,
		info:    info,
		ordered: config.Ordered,
		latency: config.MaxLatency,
		notify:  make(chan struct{}, 1),
		wsem:    make(chan struct{}, 1),
	}
	if s.ctx.Err() != nil { // closeWith finishes the subscriptions after cancelling
		s.mu.Unlock()
		resetStream(str, CancelledError)
		return nil, s.err()
	}
	s.subscriptions[id] = tr
	s.mu.Unlock()

	m := wire.Subscribe{
		ID:           id,
		Broadcast:    broadcast,
		Track:        string(name),
		Priority:     config.Priority,
		Ordered:      config.Ordered,
		MaxLatencyMs: uint64(config.MaxLatency / time.Millisecond),
	}
	if config.StartGroup != nil {
		m.StartGroup, m.HasStart = *config.StartGroup, true
	}
	if config.EndGroup != nil {
		m.EndGroup, m.HasEnd = *config.EndGroup, true
	}
	b := wire.AppendVarint(nil, wire.StreamSubscribe)
	b = m.Append(b, s.version)
	str.SetWriteDeadline(deadline(ctx))
	_, err = str.Write(b)
	str.SetWriteDeadline(zeroTime)
	if err != nil {
		tr.abort()
		return nil, s.ctxErr(ctx, s.openErr(err))
	}
	r := s.newReader(str)
	if s.version < wire.Lite05 {
		// The first response must be SUBSCRIBE_OK.
		str.SetReadDeadline(deadline(ctx))
		typ, body, err := r.ReadTyped()
		str.SetReadDeadline(zeroTime)
		if err != nil {
			tr.abort()
			return nil, s.ctxErr(ctx, s.openErr(err))
		}
		var ok wire.SubscribeOK
		if typ != wire.RespSubscribeOK {
			err = fmt.Errorf("moqt: first subscribe response has type %d, want SUBSCRIBE_OK", typ)
		} else {
			err = ok.Parse(body, s.version)
		}
		if err != nil {
			tr.abort()
			s.protocolViolation("SUBSCRIBE_OK", err)
			return nil, err
		}
		tr.info = TrackInfo{Priority: ok.Priority, Ordered: ok.Ordered, MaxLatency: time.Duration(ok.MaxLatencyMs) * time.Millisecond}
	}
	s.goFunc(func() { tr.readResponses(r) })
	return tr, nil
}

// TrackInfo asks the peer how it publishes a track (its timescale, group
// order and latency bound) without subscribing to it: TRACK on
// moq-lite-05, TRACK_STATUS on IETF MoQ Transport. Through a relay the
// answer is the upstream publisher's. A refusal is a *SubscribeError
// (NotFoundError for an unknown track). moq-lite-03 and -04 have no such
// request: there it returns an error wrapping errors.ErrUnsupported. The
// wait is bounded by ctx and by Config.SetupTimeout.
func (s *Session) TrackInfo(ctx context.Context, path BroadcastPath, name TrackName) (TrackInfo, error) {
	if s.ctx.Err() != nil {
		return TrackInfo{}, s.err()
	}
	if s.ietf.v == 0 && s.version < wire.Lite05 {
		return TrackInfo{}, fmt.Errorf("moqt: %v has no track info request: %w", s.Version(), errors.ErrUnsupported)
	}
	broadcast := cleanPath(string(path))
	ctx, cancel := context.WithTimeout(ctx, s.config.setupTimeout())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	var info TrackInfo
	var err error
	if s.ietf.v != 0 {
		info, err = s.trackInfoIETF(ctx, broadcast, string(name))
	} else {
		info, err = s.requestTrackInfo(ctx, broadcast, string(name))
	}
	if err != nil {
		return TrackInfo{}, s.ctxErr(ctx, err)
	}
	return info, nil
}

// ctxErr reports the caller's context error when it, rather than the
// session, ended an operation.
func (s *Session) ctxErr(ctx context.Context, err error) error {
	if s.ctx.Err() == nil && ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		return ctx.Err()
	}
	return err
}

// requestTrackInfo asks for a track's properties with TRACK (moq-lite-05).
func (s *Session) requestTrackInfo(ctx context.Context, broadcast, track string) (TrackInfo, error) {
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return TrackInfo{}, s.openErr(err)
	}
	defer str.CancelRead(quic.StreamErrorCode(CancelledError))
	b := wire.AppendVarint(nil, wire.StreamTrack)
	m := wire.Track{Broadcast: broadcast, Track: track}
	b = m.Append(b, s.version)
	str.SetWriteDeadline(deadline(ctx))
	if _, err := str.Write(b); err != nil {
		return TrackInfo{}, s.openErr(err)
	}
	str.Close()
	str.SetReadDeadline(deadline(ctx))
	var ti wire.TrackInfo
	if err := readMessage(s.newReader(str), &ti, s.version); err != nil {
		if isProtocolError(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.protocolViolation("TRACK_INFO", err)
		}
		return TrackInfo{}, s.openErr(err)
	}
	return TrackInfo{
		Priority:   ti.Priority,
		Ordered:    ti.Ordered,
		MaxLatency: time.Duration(ti.MaxLatencyMs) * time.Millisecond,
		Timescale:  ti.Timescale,
	}, nil
}

// openErr converts an error met while setting up a subscription.
func (s *Session) openErr(err error) error {
	if s.ctx.Err() != nil {
		return s.err()
	}
	if se := sessionErrorFrom(err); se != nil {
		return se
	}
	if code, remote, ok := s.streamCode(err); ok {
		return &SubscribeError{Code: code, Remote: remote}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("moqt: subscribe: no response within %v: %w", s.config.setupTimeout(), context.DeadlineExceeded)
	}
	return err
}

// groupArrived hands an incoming group to its subscription. The session
// calls it in the order the peer opened the streams.
func (s *Session) groupArrived(g *GroupReader, id uint64) {
	s.mu.Lock()
	tr := s.subscriptions[id]
	s.mu.Unlock()
	if tr == nil {
		g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
		return
	}
	g.track = tr
	if !tr.enqueue(g) {
		g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
	}
}

// TrackReader receives the groups of one subscription.
//
// Groups are handed out by AcceptGroup in the order the subscription asked
// for: lowest sequence first when TrackConfig.Ordered was set (our
// publishers and relays open group streams in that order, and the session
// passes them on in the order the peer opened them), else highest sequence
// first among those waiting. On moq-lite-05 an ordered reader that misses a
// group waits for it until it arrives or the publisher reports it dropped;
// a peer that loses a group without saying so costs the reader at most the
// subscription's latency bound (its MaxLatency, else the publisher's, else
// Config.MaxLatency), after which the group is skipped (Stats().Skipped).
// On 03, 04 and IETF sessions, which report no drops, an ordered reader
// waits for a missing group until the group behind the gap has waited that
// bound or Config.LegacyEndGrace, whichever is shorter; one that arrives
// later is still handed out (out of order), not lost. On moq-lite-05 a
// group that arrives after an ordered reader moved past it is refused
// (Stats().Late), so groups are always handed out in sequence order.
//
// The track ends by protocol state: on
// moq-lite-05 once the publisher's SUBSCRIBE_END is known and every group
// between SUBSCRIBE_START and it either arrived or was reported dropped; on
// 03 and 04, whose wire cannot say how many groups are still in flight,
// Config.LegacyEndGrace after the publisher's FIN of the subscription stream
// (see publisherFinished). A group stream that arrives after the end is
// refused and counted in Stats().Late.
type TrackReader struct {
	sess   *Session
	id     uint64
	path   string
	name   string
	stream quic.Stream
	info   TrackInfo
	wsem   chan struct{} // serializes writes of the subscription stream

	mu       sync.Mutex
	ordered  bool
	latency  time.Duration // the subscription's MaxLatency (0: the publisher's)
	queue    []*GroupReader
	reading  map[*GroupReader]struct{} // returned by AcceptGroup, not finished
	arrived  intervals                 // sequences whose stream arrived
	dropped  intervals                 // sequences reported dropped
	skipped  intervals                 // sequences an ordered reader stopped waiting for
	handled  intervals                 // arrived, dropped or skipped
	gapSince time.Time                 // when an ordered reader began to wait for a gap
	stats    TrackReaderStats
	notify   chan struct{}
	err      error // why the track ended; io.EOF when it finished
	finished bool  // the publisher finished the subscription stream
	start    uint64
	hasStart bool
	end      uint64
	hasEnd   bool
	closed   bool          // our side of the stream was finished or reset
	ended    chan struct{} // closed when err is set (made on demand)
	last     uint64        // sequence of the last group handed out
	hasLast  bool
	arrival  chan struct{} // IETF: signalled on each group that arrives
}

// TrackReaderStats counts the groups of a subscription.
type TrackReaderStats struct {
	// Received is the number of group streams that arrived (including
	// ones the publisher later reset).
	Received uint64
	// Dropped is the number of groups the publisher reported dropped
	// (SUBSCRIBE_DROP, moq-lite-05) whose stream never arrived.
	Dropped uint64
	// Skipped is the number of groups an ordered moq-lite-05 reader
	// stopped waiting for: neither their stream nor a report of their drop
	// arrived within the subscription's latency bound.
	// Received + Dropped + Skipped is the number of groups published from
	// Start on.
	Skipped uint64
	// Late is the number of group streams that arrived after the track
	// ended, or after an ordered reader had moved past them, and were
	// refused. A refused group is counted as dropped or skipped, not as
	// received.
	Late uint64
	// Start is the first group the publisher said it would send
	// (SUBSCRIBE_START, moq-lite-05), valid when HasStart.
	Start    uint64
	HasStart bool
}

// BroadcastPath returns the subscribed broadcast's path.
func (r *TrackReader) BroadcastPath() BroadcastPath { return BroadcastPath("/" + r.path) }

// TrackName returns the subscribed track's name.
func (r *TrackReader) TrackName() TrackName { return TrackName(r.name) }

// Info returns the track's properties as the publisher described them.
func (r *TrackReader) Info() TrackInfo { return r.info }

// Stats returns the subscription's counters.
func (r *TrackReader) Stats() TrackReaderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Start, st.HasStart = r.start, r.hasStart
	// Dropped: reported dropped and never arrived (a group reset on its
	// way may be both).
	for _, d := range r.dropped.r {
		st.Dropped += d.hi - d.lo + 1 - r.arrived.count(d.lo, d.hi+1)
	}
	for _, d := range r.skipped.r {
		st.Skipped += d.hi - d.lo + 1 - r.dropped.count(d.lo, d.hi+1)
	}
	return st
}

// AcceptGroup returns the next group, in the order described on
// TrackReader. It returns io.EOF once the track ended and its groups were
// returned, or the error that ended the subscription.
func (r *TrackReader) AcceptGroup(ctx context.Context) (*GroupReader, error) {
	barrierDone := false
	for {
		r.mu.Lock()
		if len(r.queue) > 0 {
			best := 0
			for i, g := range r.queue {
				if (r.ordered && g.seq < r.queue[best].seq) || (!r.ordered && g.seq > r.queue[best].seq) {
					best = i
				}
			}
			g := r.queue[best]
			if wait, barrier, until := r.holdLocked(g, barrierDone); wait {
				r.mu.Unlock()
				if barrier {
					r.sess.uni.barrier(ctx)
					for range 8 {
						runtime.Gosched() // webtransport-go hands streams over from goroutines of its own
					}
					barrierDone = true
					continue
				}
				if err := r.waitUntil(ctx, until); err != nil {
					return nil, err
				}
				continue
			}
			barrierDone = false
			r.gapSince = time.Time{}
			if !r.hasLast || g.seq > r.last {
				r.last, r.hasLast = g.seq, true
			}
			r.queue = append(r.queue[:best], r.queue[best+1:]...)
			if r.reading == nil {
				r.reading = make(map[*GroupReader]struct{})
			}
			r.reading[g] = struct{}{}
			r.mu.Unlock()
			return g, nil
		}
		err := r.err
		r.mu.Unlock()
		if err != nil {
			r.maybeCloseSide()
			return nil, err
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// holdLocked decides whether an ordered reader must hold group g back
// because an older group may still arrive. On moq-lite-05 our publishers
// send, in order, every group from SUBSCRIBE_START on or report it dropped,
// so the reader waits until the sequences before g arrived or were
// dropped, or the track ended. Streams can still overtake each other on
// their way (webtransport-go reads stream headers concurrently), so a count
// of groups waiting proves nothing; a group missing for longer than the
// latency bound (until, when it is set) is given up as skipped.
//
// On 03, 04 and IETF, whose wire reports no drops, the reader first waits
// once for the streams the peer opened earlier to be passed on (barrier);
// a gap that remains is waited for until g has been waiting for the
// latency bound or Config.LegacyEndGrace, whichever is shorter. Our
// publishers open every group in order and a transport reorders them by
// far less than that, while a group a publisher dropped without saying so
// costs the reader at most that wait: gaps behind groups that arrived
// together expire together, since each wait counts from the arrival of the
// group behind the gap.
func (r *TrackReader) holdLocked(g *GroupReader, barrierDone bool) (wait, barrier bool, until time.Time) {
	if !r.ordered || r.err != nil {
		return false, false, time.Time{}
	}
	seq := g.seq
	// The bound a publisher applies: the subscription's, else the
	// publisher's, else Config.MaxLatency.
	bound := r.latency
	if bound <= 0 {
		bound = r.info.MaxLatency
	}
	if bound <= 0 {
		bound = r.sess.config.maxLatency()
	}
	if r.sess.version < wire.Lite05 || r.sess.ietf.v != 0 {
		if !r.hasLast || seq <= r.last+1 || r.handled.covers(r.last+1, seq) {
			if !r.hasLast && !barrierDone {
				// Before the first group (there is no SUBSCRIBE_START),
				// let the streams the peer opened before it be passed
				// on, so that the lowest of them comes first.
				return true, true, time.Time{}
			}
			return false, false, time.Time{}
		}
		if !barrierDone {
			return true, true, time.Time{}
		}
		bound = min(bound, r.sess.config.legacyEndGrace())
		if deadline := g.arrivedAt.Add(bound); time.Now().Before(deadline) {
			return true, false, deadline
		}
		r.sess.logger.Debug("moqt: ordered reader moving past groups that did not arrive", "broadcast", r.path, "track", r.name, "from", r.last+1, "to", seq-1, "waited", bound)
		return false, false, time.Time{}
	}
	var expect uint64
	switch {
	case r.hasLast:
		expect = r.last + 1
	case r.hasStart:
		expect = r.start
	}
	if (r.hasLast || r.hasStart) && (seq <= expect || r.handled.covers(expect, seq)) {
		return false, false, time.Time{}
	}
	// A gap, or SUBSCRIBE_START (sent before the first group) not read
	// yet.
	now := time.Now()
	if r.gapSince.IsZero() {
		r.gapSince = now
	}
	if deadline := r.gapSince.Add(bound); now.Before(deadline) {
		return true, false, deadline
	}
	r.skipLocked(expect, seq, bound)
	return false, false, time.Time{}
}

// skipLocked gives up the groups of [lo, hi) that neither arrived nor were
// reported dropped.
func (r *TrackReader) skipLocked(lo, hi uint64, waited time.Duration) {
	if !r.hasLast && !r.hasStart {
		// SUBSCRIBE_START never came: where the track starts is unknown.
		r.sess.logger.Debug("moqt: no SUBSCRIBE_START within the latency bound, starting at the first group", "broadcast", r.path, "track", r.name, "group", hi)
		return
	}
	for _, gap := range r.handled.gaps(lo, hi) {
		if !r.skipped.add(gap.lo, gap.hi) || !r.handled.add(gap.lo, gap.hi) {
			r.sess.protocolViolation("group accounting", errors.New("too many gaps between group sequences"))
			return
		}
		r.sess.logger.Debug("moqt: ordered reader skipping groups that did not arrive within the latency bound",
			"broadcast", r.path, "track", r.name, "from", gap.lo, "to", gap.hi, "waited", waited)
	}
	r.checkEndLocked() // the skipped groups may complete the accounting
}

// waitUntil waits for a change to the subscription, for ctx, or for
// deadline (if set).
func (r *TrackReader) waitUntil(ctx context.Context, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-r.notify:
	case <-timeout:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (r *TrackReader) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *TrackReader) enqueue(g *GroupReader) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		if r.err == io.EOF {
			r.stats.Late++
			r.sess.logger.Debug("moqt: group arrived after its track ended, refusing it", "broadcast", r.path, "track", r.name, "group", g.seq)
		}
		return false
	}
	if r.ordered && r.hasLast && g.seq <= r.last && r.sess.version >= wire.Lite05 {
		// The reader moved past it (it was reported dropped, or skipped).
		r.stats.Late++
		if !r.handled.has(g.seq) {
			r.skipped.add(g.seq, g.seq)
			r.handled.add(g.seq, g.seq)
			r.checkEndLocked()
		}
		r.sess.logger.Debug("moqt: group arrived after the ordered reader moved past it, refusing it", "broadcast", r.path, "track", r.name, "group", g.seq, "next", r.last+1)
		return false
	}
	if !r.arrived.add(g.seq, g.seq) || !r.handled.add(g.seq, g.seq) {
		r.sess.protocolViolation("group accounting", errors.New("too many gaps between group sequences"))
		return false
	}
	if r.ordered {
		g.arrivedAt = time.Now()
	}
	r.queue = append(r.queue, g)
	r.stats.Received++
	r.wake()
	if r.arrival != nil {
		select {
		case r.arrival <- struct{}{}:
		default:
		}
	}
	r.checkEndLocked()
	return true
}

// checkEndLocked ends the track once protocol state says it is complete.
func (r *TrackReader) checkEndLocked() {
	if r.err != nil {
		return
	}
	if r.hasEnd {
		lo := uint64(0)
		if r.hasStart {
			lo = r.start
		}
		if r.end <= lo || r.accountedLocked(lo, r.end) {
			r.endLocked(io.EOF)
		}
		return
	}
	if r.finished {
		r.endLocked(io.EOF)
	}
}

// accountedLocked reports whether every sequence in [lo, hi) arrived or
// was dropped or skipped.
func (r *TrackReader) accountedLocked(lo, hi uint64) bool {
	return r.handled.covers(lo, hi)
}

// Update changes what the subscription asks for (SUBSCRIBE_UPDATE). The
// write is bounded by ctx.
func (r *TrackReader) Update(ctx context.Context, config *TrackConfig) error {
	if config == nil {
		config = &TrackConfig{}
	}
	if r.sess.ietf.v != 0 {
		return r.writeUpdate(ctx, config, r.updateIETF(config))
	}
	m := wire.SubscribeUpdate{
		Priority:     config.Priority,
		Ordered:      config.Ordered,
		MaxLatencyMs: uint64(config.MaxLatency / time.Millisecond),
	}
	if config.StartGroup != nil {
		m.StartGroup, m.HasStart = *config.StartGroup, true
	}
	if config.EndGroup != nil {
		m.EndGroup, m.HasEnd = *config.EndGroup, true
	}
	return r.writeUpdate(ctx, config, m.Append(nil, r.sess.version))
}

// writeUpdate writes an encoded update of the subscription to config.
func (r *TrackReader) writeUpdate(ctx context.Context, config *TrackConfig, msg []byte) error {
	select {
	case r.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.wsem }()
	r.mu.Lock()
	err, closed := r.err, r.closed
	if err == nil && !closed {
		r.ordered = config.Ordered
		r.latency = config.MaxLatency
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if closed {
		return ErrClosedTrack
	}
	r.stream.SetWriteDeadline(deadline(ctx))
	_, werr := r.stream.Write(msg)
	r.stream.SetWriteDeadline(zeroTime)
	if werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return r.sess.openErr(werr)
	}
	return nil
}

// Close unsubscribes. Groups not yet accepted are discarded.
func (r *TrackReader) Close() error {
	return r.CloseWithError(CancelledError)
}

// CloseWithError unsubscribes, resetting the subscription with code. The
// groups being read are cancelled too: their ReadFrame returns an error.
func (r *TrackReader) CloseWithError(code StreamErrorCode) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.sess.reset(r.stream, code)
	r.finish(ErrClosedTrack)
	r.mu.Lock()
	reading := r.reading
	r.reading = nil
	r.mu.Unlock()
	for g := range reading {
		g.stream.CancelRead(r.sess.wireCode(code))
	}
	return nil
}

// groupDone forgets a group that was read to its end or cancelled.
func (r *TrackReader) groupDone(g *GroupReader) {
	r.mu.Lock()
	delete(r.reading, g)
	r.mu.Unlock()
	r.maybeCloseSide()
}

// maybeCloseSide finishes our side of the subscription stream once the
// track ended normally and every group was handed out and read: that tells
// the publisher we have everything (it waits for it before shutting down).
func (r *TrackReader) maybeCloseSide() {
	r.mu.Lock()
	ok := r.err == io.EOF && !r.closed && len(r.queue) == 0 && len(r.reading) == 0
	if ok {
		r.closed = true
	}
	r.mu.Unlock()
	if ok {
		r.stream.Close()
	}
}

// abort drops a subscription that failed to start.
func (r *TrackReader) abort() {
	resetStream(r.stream, CancelledError)
	r.finish(ErrClosedTrack)
}

// readResponses follows the publisher's side of the subscription stream.
func (r *TrackReader) readResponses(rd *wire.Reader) {
	v := r.sess.version
	for {
		typ, body, err := rd.ReadTyped()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.publisherFinished()
				return
			}
			if r.sess.ctx.Err() != nil {
				r.finish(r.sess.err())
				return
			}
			if code, remote, ok := r.sess.streamCode(err); ok {
				r.finish(&SubscribeError{Code: code, Remote: remote})
				return
			}
			if isProtocolError(err) {
				r.sess.protocolViolation("subscribe response", err)
			}
			r.finish(err)
			return
		}
		var perr error
		switch {
		case v >= wire.Lite05 && typ == wire.RespSubscribeStart:
			var m wire.SubscribeStart
			if perr = m.Parse(body, v); perr == nil {
				r.mu.Lock()
				r.start, r.hasStart = m.Group, true
				r.checkEndLocked()
				r.wake() // an ordered reader may be waiting for it
				r.mu.Unlock()
			}
		case v >= wire.Lite05 && typ == wire.RespSubscribeEnd:
			var m wire.SubscribeEnd
			if perr = m.Parse(body, v); perr == nil {
				r.mu.Lock()
				r.end, r.hasEnd = m.Group, true
				r.checkEndLocked()
				r.mu.Unlock()
			}
		case (v >= wire.Lite05 && typ == wire.RespSubscribeDrop) || (v < wire.Lite05 && typ == wire.RespSubscribeDropV3):
			var m wire.SubscribeDrop
			if perr = m.Parse(body, v); perr == nil && m.End >= m.Start {
				r.mu.Lock()
				if !r.dropped.add(m.Start, m.End) || !r.handled.add(m.Start, m.End) {
					perr = errors.New("too many dropped ranges")
				}
				r.wake() // an ordered reader may be waiting for a gap
				r.checkEndLocked()
				r.mu.Unlock()
				r.sess.logger.Debug("moqt: publisher dropped groups", "broadcast", r.path, "track", r.name, "from", m.Start, "to", m.End, "code", StreamErrorCode(m.ErrorCode))
			}
		default:
			perr = fmt.Errorf("unexpected subscribe response type %d", typ)
		}
		if perr != nil {
			r.sess.protocolViolation("subscribe response", perr)
			r.finish(r.sess.err())
			return
		}
	}
}

// publisherFinished handles the FIN of the publisher's side. On
// moq-lite-05 SUBSCRIBE_END and the accounting decide the end (a FIN
// without SUBSCRIBE_END ends the track once the group streams the peer
// opened before it were passed on). On 03 and 04 the wire says nothing of
// the groups still in flight, and @moq/net's publisher finishes the stream
// before it opens its last group streams: the track ends
// Config.LegacyEndGrace after the FIN (and never before the group streams
// opened before the FIN were passed on).
func (r *TrackReader) publisherFinished() {
	s := r.sess
	s.uni.barrier(s.ctx)
	r.mu.Lock()
	hasEnd := r.hasEnd
	r.mu.Unlock()
	if s.version < wire.Lite05 && !hasEnd {
		t := time.NewTimer(s.config.legacyEndGrace())
		select {
		case <-t.C:
		case <-s.ctx.Done():
		case <-r.notifyEnd():
		}
		t.Stop()
	}
	r.mu.Lock()
	r.finished = true
	r.checkEndLocked()
	r.mu.Unlock()
	r.maybeCloseSide()
}

// notifyEnd returns a channel closed when the subscription ends.
func (r *TrackReader) notifyEnd() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended == nil {
		r.ended = make(chan struct{})
		if r.err != nil {
			close(r.ended)
		}
	}
	return r.ended
}

// finish ends the subscription with err (io.EOF: finished normally).
func (r *TrackReader) finish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked(err)
}

func (r *TrackReader) endLocked(err error) {
	if r.err != nil {
		return
	}
	r.err = err
	if r.ended != nil {
		close(r.ended)
	}
	if err != io.EOF {
		for _, g := range r.queue {
			g.stream.CancelRead(quic.StreamErrorCode(CancelledError)) // not g.CancelRead: r.mu is held
		}
		r.queue = nil
	}
	r.wake()
	// The session forgets the subscription now: later groups are refused
	// (and counted as late) by enqueue, which it still reaches until then.
	s := r.sess
	if err != io.EOF {
		s.forgetSubscription(r)
		return
	}
	s.goFunc(func() { s.forgetSubscription(r) })
}

func (s *Session) forgetSubscription(r *TrackReader) {
	s.mu.Lock()
	if s.subscriptions[r.id] == r {
		delete(s.subscriptions, r.id)
	}
	s.mu.Unlock()
}

// GroupReader reads the frames of one group.
type GroupReader struct {
	track    *TrackReader
	seq      uint64
	stream   quic.ReceiveStream
	r        *wire.Reader
	version  wire.Version
	maxFrame int
	ts       uint64
	ir       *ietf.Reader // IETF: the subgroup stream's reader (r is nil)
	iprops   bool         // IETF: objects carry Properties

	arrivedAt time.Time // when its stream arrived (ordered readers' gap waits)
}

// GroupSequence returns the group's sequence number.
func (g *GroupReader) GroupSequence() uint64 { return g.seq }

// ReadFrame returns the next frame of the group, or io.EOF after the last.
// A group reset by the publisher returns a *GroupError.
func (g *GroupReader) ReadFrame() (*Frame, error) {
	if g.ir != nil {
		return g.readFrameIETF()
	}
	delta, size, err := g.r.ReadFrameHeader(g.version)
	if err != nil {
		g.track.groupDone(g)
		return nil, g.readErr(err)
	}
	if size > uint64(g.maxFrame) {
		g.track.sess.logger.Warn("moqt: frame over the size limit, resetting its group",
			"stream", g.stream.StreamID(), "broadcast", g.track.path, "track", g.track.name, "group", g.seq, "size", size, "limit", g.maxFrame)
		g.CancelRead(FrameTooLargeError)
		return nil, &GroupError{Code: FrameTooLargeError}
	}
	payload, err := g.r.ReadFull(int(size))
	if err != nil {
		g.track.groupDone(g)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, g.readErr(err)
	}
	f := &Frame{Payload: payload}
	if g.version >= wire.Lite05 {
		g.ts += uint64(delta)
		f.Timestamp = g.ts
	}
	return f, nil
}

func (g *GroupReader) readErr(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if code, remote, ok := g.track.sess.streamCode(err); ok {
		return &GroupError{Code: code, Remote: remote}
	}
	if isProtocolError(err) {
		g.track.sess.logger.Warn("moqt: malformed group, resetting it", "stream", g.stream.StreamID(), "group", g.seq, "error", err)
		g.stream.CancelRead(g.track.sess.wireCode(ProtocolViolationStreamError))
		return fmt.Errorf("moqt: malformed group %d: %w", g.seq, err)
	}
	if se := sessionErrorFrom(err); se != nil {
		return se
	}
	return err
}

// CancelRead stops reading the group and asks the publisher to stop sending
// it.
func (g *GroupReader) CancelRead(code StreamErrorCode) {
	g.stream.CancelRead(g.track.sess.wireCode(code))
	g.track.groupDone(g)
}
