package moqt

import "sync"

// sendScheduler decides which of a session's group streams may hand data
// to the transport. quic-go, natively and under webtransport-go, has no
// stream priorities: it sends the pending data of every stream in turn. So
// that the more urgent groups go first when the connection is the
// bottleneck, a group's writer hands data over only while no more urgent
// writer of the session has data to hand over (the rule of x/net/http2's
// priority write scheduler, applied where the transport pulls the data). A
// writer is registered from its first chunk until it has nothing more to
// write for now (release), so a more urgent group keeps the less urgent
// ones waiting for as long as it has data, between its chunks too.
//
// Urgency, as moq-lite orders it: the subscriber's priority for the track
// (TrackConfig.Priority, higher first), then the publisher's
// (TrackInfo.Priority). Within one track the subscription's group order
// decides which group's stream is opened first (TrackWriter); once open,
// the groups of a track, like the tracks of equal priority, share the
// connection. (Holding an older group's last frames back while a newer
// group starts cost live tracks a third more p99 latency in `moq bench`
// with nothing gained on an uncongested link, so the scheduler does not.)
//
// A more urgent group whose own stream is blocked because the peer does not
// read it holds back the less urgent ones of the session too: a subscriber
// that asks for a track first is expected to read it.
type sendScheduler struct {
	mu      sync.Mutex
	writing map[*sendTurn]struct{} // turns with data to hand over
	changed chan struct{}          // closed when a turn ends (made on demand)
}

// sendTurn is one group writer's claim on the connection.
type sendTurn struct {
	sub uint8 // subscriber's priority
	pub uint8 // publisher's priority
}

// before reports whether a is more urgent than b.
func (a *sendTurn) before(b *sendTurn) bool {
	if a.sub != b.sub {
		return a.sub > b.sub
	}
	return a.pub > b.pub
}

// acquire registers t (if it is not) with these priorities and waits until
// no more urgent turn is registered; the caller then writes one chunk. It
// returns false, unregistered, if stop or done is closed first.
func (s *sendScheduler) acquire(t *sendTurn, sub, pub uint8, stop, done <-chan struct{}) bool {
	s.mu.Lock()
	t.sub, t.pub = sub, pub
	if s.writing == nil {
		s.writing = make(map[*sendTurn]struct{})
	}
	s.writing[t] = struct{}{}
	for s.heldLocked(t) {
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			s.release(t)
			return false
		case <-done:
			s.release(t)
			return false
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return true
}

func (s *sendScheduler) heldLocked(t *sendTurn) bool {
	for o := range s.writing {
		if o != t && o.before(t) {
			return true
		}
	}
	return false
}

// release unregisters t: it has nothing more to write for now.
func (s *sendScheduler) release(t *sendTurn) {
	s.mu.Lock()
	delete(s.writing, t)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.mu.Unlock()
}

// sendChunk is the most a group writer hands the transport per turn, so
// that a more urgent group waits at most this much behind a less urgent
// one's Write.
const sendChunk = 16 << 10
