package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
)

// Subscribe subscribes to the track name of the peer's broadcast at path.
// config may be nil. It returns once the peer accepted the subscription (on
// moq-lite-05, once it described the track with TRACK_INFO), or with a
// *SubscribeError if it refused it (NotFoundError for an unknown track).
func (s *Session) Subscribe(path BroadcastPath, name TrackName, config *TrackConfig) (*TrackReader, error) {
	if config == nil {
		config = &TrackConfig{}
	}
	if s.ctx.Err() != nil {
		return nil, s.err()
	}
	broadcast := cleanPath(string(path))
	ctx, cancel := context.WithTimeout(s.ctx, s.config.setupTimeout())
	defer cancel()

	var info TrackInfo
	if s.version >= wire.Lite05 {
		var err error
		info, err = s.requestTrackInfo(ctx, broadcast, string(name))
		if err != nil {
			return nil, err
		}
	}

	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, s.openErr(err)
	}
	s.mu.Lock()
	id := s.nextSubID
	s.nextSubID++
	tr := &TrackReader{
		sess:   s,
		id:     id,
		path:   broadcast,
		name:   string(name),
		stream: str,
		info:   info,
		notify: make(chan struct{}, 1),
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
	if _, err := str.Write(b); err != nil {
		tr.abort()
		return nil, s.openErr(err)
	}
	r := s.newReader(str)
	if s.version < wire.Lite05 {
		// The first response must be SUBSCRIBE_OK.
		str.SetReadDeadline(time.Now().Add(s.config.setupTimeout()))
		typ, body, err := r.ReadTyped()
		str.SetReadDeadline(time.Time{})
		if err != nil {
			tr.abort()
			return nil, s.openErr(err)
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
	if _, err := str.Write(b); err != nil {
		return TrackInfo{}, s.openErr(err)
	}
	str.Close()
	if d, ok := ctx.Deadline(); ok {
		str.SetReadDeadline(d)
	}
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
	if code, remote, ok := streamCode(err); ok {
		return &SubscribeError{Code: code, Remote: remote}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("moqt: subscribe: no response within %v: %w", s.config.setupTimeout(), context.DeadlineExceeded)
	}
	return err
}

// handleGroup hands an incoming group stream to its subscription.
func (s *Session) handleGroup(str quic.ReceiveStream, r *wire.Reader) {
	var h wire.GroupHeader
	if err := readMessage(r, &h, s.version); err != nil {
		if isProtocolError(err) {
			s.logger.Warn("moqt: malformed group header, resetting stream", "stream", str.StreamID(), "error", err)
			str.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
		} else {
			str.CancelRead(quic.StreamErrorCode(CancelledError))
		}
		return
	}
	s.mu.Lock()
	tr := s.subscriptions[h.SubscribeID]
	s.mu.Unlock()
	if tr == nil {
		str.CancelRead(quic.StreamErrorCode(CancelledError))
		return
	}
	g := &GroupReader{
		track:    tr,
		seq:      h.Sequence,
		stream:   str,
		r:        r,
		version:  s.version,
		maxFrame: s.config.maxFrameSize(),
	}
	if !tr.enqueue(g) {
		str.CancelRead(quic.StreamErrorCode(CancelledError))
	}
}

// TrackReader receives the groups of one subscription.
type TrackReader struct {
	sess   *Session
	id     uint64
	path   string
	name   string
	stream quic.Stream
	info   TrackInfo

	mu       sync.Mutex
	queue    []*GroupReader
	reading  map[*GroupReader]struct{} // returned by AcceptGroup, not finished
	received uint64                    // groups received
	notify   chan struct{}
	err      error // why the track ended; io.EOF when it finished
	finished bool  // the publisher finished the subscription stream
	start    uint64
	hasStart bool
	end      uint64
	hasEnd   bool
	dropped  uint64
	linger   *time.Timer
}

// BroadcastPath returns the subscribed broadcast's path.
func (r *TrackReader) BroadcastPath() BroadcastPath { return BroadcastPath("/" + r.path) }

// TrackName returns the subscribed track's name.
func (r *TrackReader) TrackName() TrackName { return TrackName(r.name) }

// Info returns the track's properties as the publisher described them.
func (r *TrackReader) Info() TrackInfo { return r.info }

// AcceptGroup returns the next group to arrive. Groups are returned in
// arrival order, which need not be sequence order. It returns io.EOF once the
// publisher finished the track and its groups were returned, or the error
// that ended the subscription.
func (r *TrackReader) AcceptGroup(ctx context.Context) (*GroupReader, error) {
	for {
		r.mu.Lock()
		if len(r.queue) > 0 {
			g := r.queue[0]
			r.queue[0] = nil
			r.queue = r.queue[1:]
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
			return nil, err
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
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
		return false
	}
	r.queue = append(r.queue, g)
	r.received++
	r.wake()
	if r.finished && r.accountedLocked() {
		r.endLocked(io.EOF)
	}
	return true
}

// accountedLocked reports whether every group between SUBSCRIBE_START and
// SUBSCRIBE_END arrived or was dropped (moq-lite-05).
func (r *TrackReader) accountedLocked() bool {
	if !r.hasEnd {
		return false
	}
	if r.hasStart && r.end > r.start {
		// The publisher serves groups from START on, each once.
		return r.received+r.dropped >= r.end-r.start
	}
	return r.end == 0 || (r.hasStart && r.end <= r.start)
}

// Update changes what the subscription asks for (SUBSCRIBE_UPDATE).
func (r *TrackReader) Update(config *TrackConfig) error {
	if config == nil {
		config = &TrackConfig{}
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if _, err := r.stream.Write(m.Append(nil, r.sess.version)); err != nil {
		return r.sess.openErr(err)
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
	resetStream(r.stream, code)
	r.finish(ErrClosedTrack)
	r.mu.Lock()
	reading := r.reading
	r.reading = nil
	r.mu.Unlock()
	for g := range reading {
		g.stream.CancelRead(quic.StreamErrorCode(code))
	}
	return nil
}

// groupDone forgets a group that was read to its end or cancelled.
func (r *TrackReader) groupDone(g *GroupReader) {
	r.mu.Lock()
	delete(r.reading, g)
	r.mu.Unlock()
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
				r.stream.Close()
				r.publisherFinished()
				return
			}
			if r.sess.ctx.Err() != nil {
				r.finish(r.sess.err())
				return
			}
			if code, remote, ok := streamCode(err); ok {
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
				r.mu.Unlock()
			}
		case v >= wire.Lite05 && typ == wire.RespSubscribeEnd:
			var m wire.SubscribeEnd
			if perr = m.Parse(body, v); perr == nil {
				r.mu.Lock()
				r.end, r.hasEnd = m.Group, true
				r.mu.Unlock()
			}
		case (v >= wire.Lite05 && typ == wire.RespSubscribeDrop) || (v < wire.Lite05 && typ == wire.RespSubscribeDropV3):
			var m wire.SubscribeDrop
			if perr = m.Parse(body, v); perr == nil && m.End >= m.Start {
				r.mu.Lock()
				r.dropped += m.End - m.Start + 1
				r.mu.Unlock()
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

// groupLinger is how long a finished subscription waits for group streams
// still in flight: publishers may finish the subscription stream before
// their last group streams arrive.
const groupLinger = 300 * time.Millisecond

func (r *TrackReader) publisherFinished() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.finished = true
	if r.accountedLocked() {
		r.endLocked(io.EOF)
		return
	}
	linger := groupLinger
	if r.hasEnd {
		linger = 3 * groupLinger
	}
	r.linger = time.AfterFunc(linger, func() { r.finish(io.EOF) })
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
	if r.linger != nil {
		r.linger.Stop()
	}
	if err != io.EOF {
		for _, g := range r.queue {
			g.stream.CancelRead(quic.StreamErrorCode(CancelledError)) // not g.CancelRead: r.mu is held
		}
		r.queue = nil
	}
	r.wake()
	s := r.sess
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
}

// GroupSequence returns the group's sequence number.
func (g *GroupReader) GroupSequence() uint64 { return g.seq }

// ReadFrame returns the next frame of the group, or io.EOF after the last.
// A group reset by the publisher returns a *GroupError.
func (g *GroupReader) ReadFrame() (*Frame, error) {
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
	f := &Frame{Payload: make([]byte, size)}
	if _, err := io.ReadFull(g.r, f.Payload); err != nil {
		g.track.groupDone(g)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, g.readErr(err)
	}
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
	if code, remote, ok := streamCode(err); ok {
		return &GroupError{Code: code, Remote: remote}
	}
	if isProtocolError(err) {
		g.track.sess.logger.Warn("moqt: malformed group, resetting it", "stream", g.stream.StreamID(), "group", g.seq, "error", err)
		g.stream.CancelRead(quic.StreamErrorCode(ProtocolViolationStreamError))
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
	g.stream.CancelRead(quic.StreamErrorCode(code))
	g.track.groupDone(g)
}
