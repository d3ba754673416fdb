package relay

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// track is one upstream subscription shared by every downstream subscriber
// of a track. Its recent groups are cached; each downstream subscriber is a
// cursor over them, served by its own goroutine, so a slow subscriber delays
// nobody else.
type track struct {
	b    *broadcast
	name string

	ready chan struct{} // closed when the upstream subscription started or failed
	info  moqt.TrackInfo
	err   error // why the upstream subscription failed (set before ready)
	up    *moqt.TrackReader

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	epoch  time.Time // frame arrival times count from here

	mu      sync.Mutex
	users   int // holders of the track (subscribers and info requests)
	idle    *time.Timer
	groups  []*group // cached, in arrival order
	latest  *group   // highest sequence seen
	arrived uint64   // groups arrived so far
	subs    map[*subscriber]struct{}
	reading int   // groups still being read from upstream
	done    bool  // upstream finished (no more groups)
	doneErr error // nil: finished cleanly
	merged  moqt.TrackConfig
}

// group is a cached group. frames only grows; it and the other fields are
// guarded by the track's mutex. Frames are shared, never copied, among the
// subscribers.
type group struct {
	seq    uint64
	idx    uint64 // arrival number
	frames []*moqt.Frame
	times  []int64 // arrival of each frame, monotonic ns since the track began
	bytes  int
	done   bool  // complete (or aborted, with err)
	err    error // non-nil: the group was reset upstream
}

func newTrack(b *broadcast, name string) *track {
	t := &track{b: b, name: name, ready: make(chan struct{}), subs: make(map[*subscriber]struct{}), epoch: time.Now()}
	t.ctx, t.cancel = context.WithCancel(b.ctx)
	return t
}

// acquire takes a hold on the track; it fails if the track is finishing.
func (t *track) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil || (t.done && t.reading == 0) {
		return false
	}
	t.users++
	if t.idle != nil {
		t.idle.Stop()
		t.idle = nil
	}
	return true
}

// release drops a hold; the last one starts the linger before the upstream
// subscription is cancelled.
func (t *track) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.users--
	if t.users == 0 && t.ctx.Err() == nil {
		t.idle = time.AfterFunc(t.b.relay.opts.linger(), func() {
			t.mu.Lock()
			idle := t.users == 0
			t.mu.Unlock()
			if idle {
				t.stop()
			}
		})
	}
}

// wait waits until the upstream subscription started.
func (t *track) wait(ctx context.Context) error {
	select {
	case <-t.ready:
		return t.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *track) stop() { t.cancel() }

// run subscribes upstream and caches every group until the upstream track
// ends or the track is stopped.
func (t *track) run() {
	r := t.b.relay
	up, err := t.b.sess.Subscribe(t.b.remote, moqt.TrackName(t.name), nil)
	if err != nil {
		t.err = err
		close(t.ready)
		t.finish(err)
		return
	}
	r.upstreams.Add(1)
	defer r.upstreams.Add(-1)
	t.up, t.info = up, up.Info()
	close(t.ready)
	stop := context.AfterFunc(t.ctx, func() { up.Close() })
	defer stop()

	var wg sync.WaitGroup
	for {
		gr, err := up.AcceptGroup(t.ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			} else if t.ctx.Err() != nil {
				err = t.ctx.Err()
			}
			wg.Wait()
			t.finish(err)
			up.Close()
			return
		}
		g := t.addGroup(gr.GroupSequence())
		if g == nil {
			gr.CancelRead(moqt.OldGroupError)
			continue
		}
		wg.Go(func() { t.readGroup(g, gr) })
	}
}

// addGroup caches a new group and evicts old ones. It returns nil for a
// group older than the cache's oldest.
func (t *track) addGroup(seq uint64) *group {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := &group{seq: seq, idx: t.arrived}
	t.arrived++
	t.reading++
	if t.latest == nil || seq > t.latest.seq {
		t.latest = g
	}
	t.groups = append(t.groups, g)
	// Evict: keep the latest group, and others while within the cache size.
	max := t.b.relay.opts.cacheGroups()
	for len(t.groups) > max {
		victim := 0
		if t.groups[0] == t.latest {
			victim = 1
		}
		copy(t.groups[victim:], t.groups[victim+1:])
		t.groups[len(t.groups)-1] = nil
		t.groups = t.groups[:len(t.groups)-1]
	}
	// Subscribers stuck on groups older than the latency bound drop them.
	for s := range t.subs {
		s.dropStaleLocked(seq)
		s.wake()
	}
	return g
}

func (t *track) readGroup(g *group, gr *moqt.GroupReader) {
	stop := context.AfterFunc(t.ctx, func() { gr.CancelRead(moqt.CancelledError) })
	defer stop()
	limit := t.b.relay.opts.maxGroupBytes()
	for {
		f, err := gr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			t.endGroup(g, err)
			return
		}
		t.mu.Lock()
		g.frames = append(g.frames, f)
		g.times = append(g.times, int64(time.Since(t.epoch)))
		g.bytes += len(f.Payload)
		over := g.bytes > limit
		for s := range t.subs {
			s.wakeGroupLocked(g)
			if s.tw == nil {
				s.wake() // a Fetch
			}
		}
		t.mu.Unlock()
		if over {
			gr.CancelRead(moqt.CancelledError)
			t.endGroup(g, &moqt.GroupError{Code: moqt.CancelledError})
			return
		}
	}
}

func (t *track) endGroup(g *group, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g.done, g.err = true, err
	t.reading--
	for s := range t.subs {
		s.wakeGroupLocked(g)
		s.wake()
	}
}

// finish records the end of the upstream track.
func (t *track) finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done, t.doneErr = true, err
	for s := range t.subs {
		s.wake()
	}
}

// subscriber is one downstream subscription: a cursor over the track's
// groups. Each group it is sent is written by its own goroutine, so that a
// group stalled by stream flow control delays no other group. The cursor
// and active are guarded by the track's mutex.
type subscriber struct {
	t       *track
	tw      *moqt.TrackWriter
	notify  chan struct{}
	from    uint64     // lowest group sequence wanted
	opened  uint64     // groups with a lower arrival number were taken (or skipped)
	active  []*sending // groups being written
	latency time.Duration
	wg      sync.WaitGroup
}

// sending is a group being written to one subscriber by its goroutine.
type sending struct {
	g       *group
	w       *moqt.GroupWriter // set once opened, under the track's mutex
	notify  chan struct{}
	n       atomic.Int64 // frames written
	dropped atomic.Bool  // cancelled for being too far behind
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *subscriber) wake() {
	if s.notify != nil {
		wake(s.notify)
	}
}

// wakeGroupLocked wakes the goroutine sending g to this subscriber.
func (s *subscriber) wakeGroupLocked(g *group) {
	for _, st := range s.active {
		if st.g == g {
			wake(st.notify)
		}
	}
}

// dropStaleLocked cancels the older groups (than a newly arrived group seq)
// this subscriber is behind on: those whose oldest frame not yet written
// arrived more than its latency bound ago. A group whose frames were all
// written is never dropped.
func (s *subscriber) dropStaleLocked(seq uint64) {
	now := int64(time.Since(s.t.epoch))
	for _, st := range s.active {
		if st.dropped.Load() || st.w == nil || st.g.seq >= seq {
			continue
		}
		n := int(st.n.Load())
		if n >= len(st.g.frames) {
			continue // caught up
		}
		if behind := time.Duration(now - st.g.times[n]); behind > s.latency {
			st.dropped.Store(true)
			st.w.CancelWrite(moqt.OldGroupError)
			wake(st.notify)
			s.t.b.relay.logger.Debug("relay: subscriber too far behind, dropping a group",
				"broadcast", s.t.b.path.String(), "track", s.t.name, "group", st.g.seq, "behind", behind)
		}
	}
}

// serve forwards the track to tw until either ends.
func (t *track) serve(tw *moqt.TrackWriter) {
	s := &subscriber{t: t, tw: tw, notify: make(chan struct{}, 1)}
	s.latency = tw.Config().MaxLatency
	if s.latency == 0 {
		s.latency = t.info.MaxLatency
	}
	if s.latency == 0 {
		s.latency = t.b.relay.opts.maxLatency()
	}
	t.mu.Lock()
	// A new subscriber starts at the latest group, from its first frame.
	if start := tw.Config().StartGroup; start != nil {
		s.from = *start
	} else if t.latest != nil {
		s.from = t.latest.seq
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	t.updateUpstream()
	defer func() {
		t.mu.Lock()
		delete(t.subs, s)
		for _, st := range s.active {
			wake(st.notify)
		}
		t.mu.Unlock()
		s.wg.Wait()
		t.updateUpstream()
	}()

	for {
		t.mu.Lock()
		for _, g := range t.groups {
			if g.idx < s.opened || g.seq < s.from || (g.done && g.err != nil) {
				continue
			}
			st := &sending{g: g, notify: make(chan struct{}, 1)}
			s.active = append(s.active, st)
			s.wg.Go(func() { s.send(st) })
		}
		if n := len(t.groups); n > 0 {
			s.opened = max(s.opened, t.groups[n-1].idx+1)
		}
		finished := t.done && t.reading == 0 && len(s.active) == 0
		doneErr := t.doneErr
		t.mu.Unlock()
		if finished {
			if doneErr != nil && !errors.Is(doneErr, context.Canceled) {
				code := moqt.InternalStreamError
				var se *moqt.SubscribeError
				if errors.As(doneErr, &se) {
					code = se.Code
				}
				tw.CloseWithError(code)
			} else {
				tw.Close()
			}
			return
		}
		select {
		case <-s.notify:
		case <-tw.Context().Done():
			return
		}
	}
}

// send writes one group to the subscriber as its frames arrive.
func (s *subscriber) send(st *sending) {
	t := s.t
	defer func() {
		t.mu.Lock()
		for i, x := range s.active {
			if x == st {
				s.active = append(s.active[:i], s.active[i+1:]...)
				break
			}
		}
		t.mu.Unlock()
		s.wake()
	}()
	w, err := s.tw.OpenGroup(st.g.seq)
	if err != nil {
		return
	}
	t.mu.Lock()
	st.w = w
	t.mu.Unlock()
	for {
		t.mu.Lock()
		n := st.n.Load()
		frames := st.g.frames[n:]
		done, gerr := st.g.done, st.g.err
		// Behind on an old group while a newer one exists: drop it here,
		// without waiting for the next group's arrival to do it (under CPU
		// overload that arrival is itself late).
		stale := len(frames) > 0 && t.latest != nil && t.latest.seq > st.g.seq &&
			time.Duration(int64(time.Since(t.epoch))-st.g.times[n]) > s.latency
		t.mu.Unlock()
		if stale {
			st.dropped.Store(true)
			w.CancelWrite(moqt.OldGroupError)
			return
		}
		for _, f := range frames {
			if st.dropped.Load() {
				return
			}
			if err := w.WriteFrame(f); err != nil {
				w.CancelWrite(moqt.CancelledError)
				return
			}
			st.n.Add(1)
		}
		switch {
		case st.dropped.Load():
			return
		case done && gerr != nil:
			w.CancelWrite(moqt.CancelledError)
			return
		case done:
			w.Close()
			return
		}
		select {
		case <-st.notify:
		case <-s.tw.Context().Done():
			w.CancelWrite(moqt.CancelledError)
			return
		}
	}
}

// updateUpstream merges what the subscribers ask for and sends it upstream
// when it changed: the highest priority, ordered only if all ask, the
// largest latency bound.
func (t *track) updateUpstream() {
	t.mu.Lock()
	var m moqt.TrackConfig
	first := true
	for s := range t.subs {
		if s.tw == nil {
			continue // a Fetch watching the track
		}
		c := s.tw.Config()
		if first {
			m.Ordered = c.Ordered
			first = false
		}
		m.Priority = max(m.Priority, c.Priority)
		m.Ordered = m.Ordered && c.Ordered
		m.MaxLatency = max(m.MaxLatency, c.MaxLatency)
	}
	changed := m.Priority != t.merged.Priority || m.Ordered != t.merged.Ordered || m.MaxLatency != t.merged.MaxLatency
	t.merged = m
	up := t.up
	t.mu.Unlock()
	if changed && up != nil {
		up.Update(&m)
	}
}
