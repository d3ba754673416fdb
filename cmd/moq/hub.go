package main

import (
	"context"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// hub is a live track written by one producer and served to every
// subscription. Each group is one moqt.GroupBuffer handed to every
// subscription as it starts, so a burst of groups is queued for each
// subscriber (which drops only what its latency bound says) instead of
// being lost here. A new subscription starts at the current group, from
// its first frame, or at its StartGroup among the groups kept: those of the
// last hubRetain, and always the current one. With backlog set, the first
// subscription of the track that names no StartGroup also gets the groups
// started in the hubBacklog before it: a relay, which subscribes once for
// all its subscribers, then loses nothing of what was published just before
// it asked (the first frames of a broadcast, read before its catalog).
type hub struct {
	backlog bool

	mu      sync.Mutex
	served  bool        // a subscription started (backlog is spent)
	groups  []*hubGroup // kept groups, oldest first
	next    uint64      // sequence of the next group
	subs    map[*moqt.TrackWriter]struct{}
	ended   chan struct{} // closed by end
	isEnded bool
}

type hubGroup struct {
	buf     *moqt.GroupBuffer
	started time.Time
}

// hubRetain is how long a hub keeps a group after the next one started.
const hubRetain = 30 * time.Second

// hubBacklog bounds the past a backlog hub hands its first subscription:
// older groups would be dropped as too far behind the live edge anyway.
const hubBacklog = 2 * time.Second

func newHub() *hub {
	return &hub{subs: make(map[*moqt.TrackWriter]struct{}), ended: make(chan struct{})}
}

// startGroup closes the current group and starts the next.
func (h *hub) startGroup() {
	now := time.Now()
	g := &hubGroup{buf: moqt.NewGroupBuffer(h.next), started: now}
	h.mu.Lock()
	if n := len(h.groups); n > 0 {
		h.groups[n-1].buf.Close()
	}
	h.next++
	h.groups = append(h.groups, g)
	keep := 0
	for keep < len(h.groups)-1 && now.Sub(h.groups[keep+1].started) > hubRetain {
		keep++
	}
	h.groups = h.groups[keep:]
	// SendGroup never waits for the network; calling it under the lock
	// keeps each subscription's groups in sequence order (ServeTrack hands
	// a new one its first groups under the lock too).
	for tw := range h.subs {
		tw.SendGroup(g.buf)
	}
	h.mu.Unlock()
}

// finishGroup closes the current group (startGroup would otherwise close
// it when the next one starts).
func (h *hub) finishGroup() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.groups); n > 0 {
		h.groups[n-1].buf.Close()
	}
}

// write appends a frame to the current group.
func (h *hub) write(f *moqt.Frame) {
	h.mu.Lock()
	g := h.groups[len(h.groups)-1]
	h.mu.Unlock()
	g.buf.Append(f)
}

// end closes the current group and ends the track.
func (h *hub) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isEnded {
		return
	}
	if n := len(h.groups); n > 0 {
		h.groups[n-1].buf.Close()
	}
	h.isEnded = true
	close(h.ended)
}

// ServeTrack serves one subscription until the track ends.
func (h *hub) ServeTrack(tw *moqt.TrackWriter) {
	cfg := tw.Config()
	h.mu.Lock()
	var start []*moqt.GroupBuffer
	all := h.backlog && !h.served
	h.served = true
	now := time.Now()
	for i, g := range h.groups {
		recent := all && now.Sub(g.started) <= hubBacklog
		if cfg.StartGroup != nil && g.buf.Sequence() >= *cfg.StartGroup || cfg.StartGroup == nil && (recent || i == len(h.groups)-1) {
			start = append(start, g.buf)
		}
	}
	// Its first groups, then the ones startGroup hands over, in order.
	for _, b := range start {
		tw.SendGroup(b)
	}
	h.subs[tw] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, tw)
		h.mu.Unlock()
	}()
	select {
	case <-h.ended:
		tw.Close()
	case <-tw.Context().Done():
	}
}

// publish publishes broadcast in a new TrackMux, serving track name from h
// until ctx ends; other track names are refused.
func (h *hub) publish(ctx context.Context, broadcast moqt.BroadcastPath, name moqt.TrackName) *moqt.TrackMux {
	mux := moqt.NewTrackMux()
	mux.PublishFunc(ctx, broadcast, func(tw *moqt.TrackWriter) {
		if tw.TrackName() != name {
			tw.CloseWithError(moqt.NotFoundError)
			return
		}
		h.ServeTrack(tw)
	})
	return mux
}
