package relay

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

// track is one upstream subscription shared by every downstream subscriber
// of a track. Each group that arrives becomes one moqt.GroupBuffer, an
// append-only log handed at once to every subscriber's TrackWriter, whose
// own sender follows it at the subscriber's pace: a slow subscriber delays
// nobody, and no subscriber depends on the cache. The recent groups are
// also cached for late joiners and HTTP fetches.
type track struct {
	b     *broadcast
	name  string
	first *moqt.TrackConfig // what the first subscriber asked for (nil: unknown)

	ready chan struct{} // closed when the upstream subscription started or failed
	info  moqt.TrackInfo
	err   error // why the upstream subscription failed (set before ready)

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	ended  chan struct{} // closed when the upstream track ended and its groups were read

	mu      sync.Mutex
	up      *moqt.TrackReader
	users   int // holders of the track (subscribers, fetches and info requests)
	idle    *time.Timer
	cache   []*cached // recent groups, in arrival order
	latest  *cached   // highest sequence seen
	subs    map[*moqt.TrackWriter]struct{}
	doneErr error // why the upstream track ended (nil: finished cleanly)
	merged  moqt.TrackConfig
	changed chan struct{} // closed and replaced when a group arrives
	added   uint64        // groups added so far (numbers cached.idx)
	joined  bool          // a subscriber has joined

	updating chan struct{} // held while an upstream update is merged and sent

	// Owned by run.
	highest uint64 // highest group sequence relayed (when relayed)
	relayed bool   // a group was relayed
	resumed int    // upstream subscriptions resumed on another route
}

// cached is a group in the cache, with the bytes it counts against the
// relay's cache budget.
type cached struct {
	buf   *moqt.GroupBuffer
	bytes int64  // counted in Relay.cacheBytes
	idx   uint64 // its place in arrival order (track.added when it came)
}

func newTrack(b *broadcast, name string, first *moqt.TrackConfig) *track {
	t := &track{b: b, name: name, first: first, ready: make(chan struct{}), ended: make(chan struct{}),
		subs: make(map[*moqt.TrackWriter]struct{}), changed: make(chan struct{}), updating: make(chan struct{}, 1)}
	t.ctx, t.cancel = context.WithCancel(b.relay.ctx)
	return t
}

// acquire takes a hold on the track; it fails if the track is finishing.
func (t *track) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil || isClosed(t.ended) {
		return false
	}
	t.users++
	if t.idle != nil {
		t.idle.Stop()
		t.idle = nil
	}
	return true
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// release drops a hold; the last one starts the linger before the upstream
// subscription is cancelled (a cache policy: a subscriber that comes back
// soon finds the track warm).
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

// run subscribes upstream and relays every group until the upstream track
// ends or the track is stopped. When the session of the route it
// subscribed by dies, it subscribes again by the broadcast's next route
// (waiting while the broadcast lingers): the subscribers carry on, and
// lose only the groups that were in flight.
func (t *track) run() {
	defer close(t.ended)
	defer t.uncache()
	// Until subscribers say what they want (a track info request starts
	// the track before its first subscription), ask for the groups oldest
	// first: a subscriber that wants them in order then gets them in
	// order however quickly the publisher sends them before the update
	// reaches it, and one that wants the newest first still gets them
	// newest first from its own queue.
	cfg := moqt.TrackConfig{Ordered: true}
	if t.first != nil {
		cfg = moqt.TrackConfig{Priority: t.first.Priority, Ordered: t.first.Ordered, MaxLatency: t.first.MaxLatency}
	}
	var dead *route // the route whose session died under the last upstream
	for {
		src, err := t.b.source(t.ctx, dead)
		if err != nil {
			t.finish(err)
			return
		}
		if dead != nil {
			t.mu.Lock()
			cfg = t.merged
			t.mu.Unlock()
		}
		err = t.relayFrom(src, &cfg)
		if err == nil || t.ctx.Err() != nil || !sessionLost(t.ctx, src.sess, err) {
			// The track's end, or the publisher's error: the subscribers
			// get it. Or the relay stops the track.
			t.finish(err)
			return
		}
		t.resumed++
		t.b.relay.logger.Info("relay: upstream session lost, resuming the track by another route", "broadcast", t.b.path.String(), "track", t.name, "remote", src.sess.RemoteAddr(), "error", err)
		dead = src
	}
}

// sessionLost reports whether err, which ended an upstream subscription on
// sess, came from the end of sess rather than from the publisher (a reset
// of the subscription with a code): a transport error of the connection
// is, once sess ends too (it is waited for, within ctx).
func sessionLost(ctx context.Context, sess *moqt.Session, err error) bool {
	var se *moqt.SubscribeError
	var qe *quic.StreamError
	if sess.Context().Err() == nil && (errors.As(err, &se) || errors.As(err, &qe)) {
		return false
	}
	select {
	case <-sess.Context().Done():
		return true
	case <-ctx.Done():
		return false
	}
}

// finish records why the upstream track ended (nil: it finished), and
// that it did, for waiters that never saw it start.
func (t *track) finish(err error) {
	if errors.Is(err, io.EOF) {
		err = nil
	} else if err != nil && t.ctx.Err() != nil {
		err = t.ctx.Err()
	}
	t.mu.Lock()
	t.doneErr = err
	t.mu.Unlock()
	if !isClosed(t.ready) {
		if err == nil {
			err = errNoRoute
		}
		t.err = err
		close(t.ready)
	}
}

// relayFrom subscribes by src with cfg and relays its groups until the
// upstream track ends: nil when it finished, else the error.
func (t *track) relayFrom(src *route, cfg *moqt.TrackConfig) error {
	r := t.b.relay
	up, err := src.sess.Subscribe(t.ctx, src.remote, moqt.TrackName(t.name), cfg)
	if err != nil {
		return err
	}
	r.upstreams.Add(1)
	defer r.upstreams.Add(-1)
	src.stats.upstreams.Add(1)
	defer src.stats.upstreams.Add(-1)
	r.metrics.upOpened.Add(1)
	defer r.metrics.upstreamClosed(up)
	t.mu.Lock()
	t.up = up
	t.merged = *cfg
	t.mu.Unlock()
	if !isClosed(t.ready) {
		t.info = up.Info()
		close(t.ready)
	}
	t.updateUpstream()
	stop := context.AfterFunc(t.ctx, func() { up.Close() })
	defer stop()
	defer up.Close()

	// A resumed upstream may start at or below the groups relayed already:
	// the same publisher through another route (the group that was in
	// flight, or the one before: not relayed twice), or a publisher that
	// restarted its numbering (renumbered to follow on, so that the
	// subscribers, who saw higher sequences, carry on).
	var offset uint64
	first := true
	// floor is the highest group relayed before this upstream resumed the
	// track: the one groups at or below it are judged against (a later
	// group below the highest since is one this upstream had not sent yet).
	floor, resumed := t.highest, t.resumed > 0 && t.relayed
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		gr, err := up.AcceptGroup(t.ctx)
		if err != nil {
			st := up.Stats()
			if st.Dropped > 0 || st.Late > 0 {
				r.logger.Debug("relay: upstream track ended with groups dropped upstream", "broadcast", t.b.path.String(), "track", t.name, "dropped", st.Dropped, "late", st.Late)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		seq := gr.GroupSequence()
		if first && resumed && seq+1 < floor {
			offset = floor + 1 - seq
			r.logger.Info("relay: resumed track restarted its group numbers; renumbering them to follow on", "broadcast", t.b.path.String(), "track", t.name, "first", seq, "relayed", floor, "offset", offset)
		}
		first = false
		seq += offset
		if resumed && seq <= floor {
			// Relayed already, by the route that was lost (or, renumbered,
			// it would take a number given out already).
			gr.CancelRead(moqt.CancelledError)
			continue
		}
		if !t.relayed || seq > t.highest {
			t.highest, t.relayed = seq, true
		}
		buf := moqt.NewGroupBuffer(seq)
		c := &cached{buf: buf}
		subs := t.addGroup(c)
		r.groups.Add(1)
		src.stats.groupsIn.Add(1)
		for _, tw := range subs {
			tw.SendGroup(buf)
		}
		wg.Go(func() { t.readGroup(c, gr, src.stats) })
	}
}

// addGroup caches a new group, evicts old ones, and returns the
// subscribers to hand it to.
func (t *track) addGroup(c *cached) []*moqt.TrackWriter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.latest == nil || c.buf.Sequence() > t.latest.buf.Sequence() {
		t.latest = c
	}
	t.added++
	c.idx = t.added
	t.cache = append(t.cache, c)
	t.evictLocked()
	close(t.changed)
	t.changed = make(chan struct{})
	subs := make([]*moqt.TrackWriter, 0, len(t.subs))
	for tw := range t.subs {
		subs = append(subs, tw)
	}
	return subs
}

// evictLocked keeps the cache within its group count and the relay within
// its byte budget; the latest group always stays. Evicting a group only
// affects later joiners and fetches: subscribers already hold it.
func (t *track) evictLocked() {
	r := t.b.relay
	for len(t.cache) > 1 && (len(t.cache) > r.opts.cacheGroups() || r.cacheBytes.Load() > r.opts.cacheBytes()) {
		victim := 0
		if t.cache[0] == t.latest {
			victim = 1
		}
		r.cacheBytes.Add(-t.cache[victim].bytes)
		copy(t.cache[victim:], t.cache[victim+1:])
		t.cache[len(t.cache)-1] = nil
		t.cache = t.cache[:len(t.cache)-1]
	}
}

// uncache releases the cache's bytes when the track ends.
func (t *track) uncache() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.cache {
		t.b.relay.cacheBytes.Add(-c.bytes)
	}
	t.cache, t.latest = nil, nil
}

func (t *track) readGroup(c *cached, gr *moqt.GroupReader, stats *sessionStats) {
	stop := context.AfterFunc(t.ctx, func() { gr.CancelRead(moqt.CancelledError) })
	defer stop()
	r := t.b.relay
	limit := r.opts.maxGroupBytes()
	total := 0
	for {
		f, err := gr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				c.buf.Close()
				return
			}
			code := moqt.CancelledError
			var ge *moqt.GroupError
			if errors.As(err, &ge) {
				code = ge.Code
			}
			c.buf.Abort(code)
			return
		}
		total += len(f.Payload)
		if total > limit {
			r.logger.Warn("relay: group over the size limit, aborting it", "broadcast", t.b.path.String(), "track", t.name, "group", c.buf.Sequence(), "limit", limit)
			r.metrics.tooLarge.Add(1)
			gr.CancelRead(moqt.CancelledError)
			c.buf.Abort(moqt.CancelledError)
			return
		}
		stats.bytesIn.Add(int64(len(f.Payload))) // before subscribers can see the frame
		c.buf.Append(f)
		r.frames.Add(1)
		r.bytes.Add(int64(len(f.Payload)))
		t.mu.Lock()
		if t.cachedLocked(c) {
			c.bytes += int64(len(f.Payload))
			r.cacheBytes.Add(int64(len(f.Payload)))
			t.evictLocked()
		}
		t.mu.Unlock()
	}
}

func (t *track) cachedLocked(c *cached) bool {
	for _, x := range t.cache {
		if x == c {
			return true
		}
	}
	return false
}

// serve forwards the track to tw until either ends. A new subscriber starts
// at the latest group (from its first frame), or at its StartGroup if that
// is cached; the track's first subscriber gets every group cached since
// the upstream subscription started (which its track request started).
func (t *track) serve(tw *moqt.TrackWriter) {
	sub := t.b.relay.metrics.subscribed(t.b, tw)
	defer sub.end()
	t.join(tw)
	t.updateUpstream()
	defer func() {
		t.mu.Lock()
		delete(t.subs, tw)
		t.mu.Unlock()
		t.updateUpstream()
		if n := tw.Stats().Dropped; n > 0 {
			t.b.relay.dropped.Add(int64(n))
		}
	}()
	select {
	case <-t.ended:
	case <-tw.Context().Done():
		return
	}
	t.mu.Lock()
	doneErr := t.doneErr
	t.mu.Unlock()
	if doneErr != nil && !errors.Is(doneErr, context.Canceled) {
		code := moqt.InternalStreamError
		var se *moqt.SubscribeError
		if errors.As(doneErr, &se) {
			code = se.Code
		}
		sub.end() // before the subscriber can learn of it
		tw.CloseWithError(code)
		return
	}
	sub.end()
	tw.Close()
}

// join hands tw the groups it starts with and registers it for the ones
// that follow, in arrival order and without holding the track's lock while
// calling into tw: the groups that arrive while it is handed the first ones
// are handed over too before it is registered.
func (t *track) join(tw *moqt.TrackWriter) {
	cfg := tw.Config()
	var send []*moqt.GroupBuffer
	t.mu.Lock()
	if cfg.StartGroup != nil {
		for _, c := range t.cache {
			if c.buf.Sequence() >= *cfg.StartGroup {
				send = append(send, c.buf)
			}
		}
	} else if !t.joined {
		// The first subscriber: the upstream subscription was started for
		// it (by its track request), so it gets every group since then,
		// not only the latest (the drop rules still apply).
		for _, c := range t.cache {
			send = append(send, c.buf)
		}
	} else if t.latest != nil {
		send = append(send, t.latest.buf)
	}
	seen := t.added
	for {
		t.mu.Unlock()
		for _, b := range send {
			tw.SendGroup(b)
		}
		send = send[:0]
		t.mu.Lock()
		if t.added == seen {
			t.joined = true
			t.subs[tw] = struct{}{}
			t.mu.Unlock()
			return
		}
		for _, c := range t.cache {
			if c.idx > seen && (cfg.StartGroup == nil || c.buf.Sequence() >= *cfg.StartGroup) {
				send = append(send, c.buf)
			}
		}
		if len(send) == 0 || send[0] != t.cacheAfterLocked(seen) {
			// Groups came and went before tw could be handed them: it
			// starts at the oldest one still cached, as a late joiner does.
			t.b.relay.logger.Debug("relay: groups evicted while a subscriber joined", "broadcast", t.b.path.String(), "track", t.name)
		}
		seen = t.added
	}
}

// cacheAfterLocked returns the cached group that arrived right after the
// idx-th, or nil if it is no longer cached.
func (t *track) cacheAfterLocked(idx uint64) *moqt.GroupBuffer {
	for _, c := range t.cache {
		if c.idx == idx+1 {
			return c.buf
		}
	}
	return nil
}

// updateUpstream merges what the subscribers ask for and sends it upstream
// when it changed: the highest priority, ordered if any subscriber asks
// for order (an ordered subscriber needs the groups to arrive in order),
// the largest latency bound (none, the publisher's, if any subscriber
// leaves it to the publisher).
func (t *track) updateUpstream() {
	// One update at a time, so that the last one sent is the latest merge.
	select {
	case t.updating <- struct{}{}:
	case <-t.ctx.Done():
		return
	}
	defer func() { <-t.updating }()
	t.mu.Lock()
	subs := make([]*moqt.TrackWriter, 0, len(t.subs))
	for tw := range t.subs {
		subs = append(subs, tw)
	}
	t.mu.Unlock()
	if len(subs) == 0 {
		// Nobody to merge for: the upstream keeps what it was last asked
		// (asking for the zero config would flip an ordered track to
		// newest-first while its first subscriber is joining).
		return
	}
	// Their configs are read without holding the track's lock.
	var m moqt.TrackConfig
	anyDefault := false
	for _, tw := range subs {
		c := tw.Config()
		m.Priority = max(m.Priority, c.Priority)
		m.Ordered = m.Ordered || c.Ordered
		m.MaxLatency = max(m.MaxLatency, c.MaxLatency)
		anyDefault = anyDefault || c.MaxLatency == 0
	}
	if anyDefault {
		// A subscriber that leaves the bound to the publisher must not
		// get a tighter one because another asked for it.
		m.MaxLatency = 0
	}
	t.mu.Lock()
	changed := m.Priority != t.merged.Priority || m.Ordered != t.merged.Ordered || m.MaxLatency != t.merged.MaxLatency
	up := t.up
	if changed && up != nil {
		t.merged = m
	}
	t.mu.Unlock()
	if changed && up != nil {
		up.Update(t.ctx, &m)
	}
}

// fetch returns the group a fetch asks for: the latest one (waiting for
// the first if none arrived yet), or group *seq if it is cached.
func (t *track) fetch(ctx context.Context, seq *uint64) (*moqt.GroupBuffer, error) {
	for {
		t.mu.Lock()
		var g *moqt.GroupBuffer
		if seq == nil {
			if t.latest != nil {
				g = t.latest.buf
			}
		} else {
			for _, c := range t.cache {
				if c.buf.Sequence() == *seq {
					g = c.buf
				}
			}
		}
		changed := t.changed
		t.mu.Unlock()
		switch {
		case g != nil:
			return g, nil
		case seq != nil:
			return nil, ErrNotFound
		}
		select {
		case <-changed:
		case <-t.ended:
			return nil, ErrNotFound
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
