package main

import (
	"context"
	"sync"

	"github.com/gomoq/gomoq/moqt"
)

// hub is a live track written by one producer and served to every
// subscription: a new subscription starts at the current group, from its
// first frame, then follows. The last few groups are kept so that a
// subscription finishing an older group loses none of its frames.
type hub struct {
	mu     sync.Mutex
	groups []*hubGroup // oldest first
	next   uint64      // sequence of the next group
	ended  bool
	notify chan struct{} // closed and replaced on every change
}

type hubGroup struct {
	seq    uint64
	frames []*moqt.Frame
	closed bool
}

// hubKeep is how many groups a hub keeps.
const hubKeep = 4

func newHub() *hub { return &hub{notify: make(chan struct{})} }

func (h *hub) changedLocked() {
	close(h.notify)
	h.notify = make(chan struct{})
}

// startGroup closes the current group and starts the next.
func (h *hub) startGroup() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.groups); n > 0 {
		h.groups[n-1].closed = true
	}
	h.groups = append(h.groups, &hubGroup{seq: h.next})
	h.next++
	if len(h.groups) > hubKeep {
		h.groups = h.groups[1:]
	}
	h.changedLocked()
}

// write appends a frame to the current group.
func (h *hub) write(f *moqt.Frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[len(h.groups)-1]
	g.frames = append(g.frames, f)
	h.changedLocked()
}

// end closes the current group and ends the track.
func (h *hub) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.groups); n > 0 {
		h.groups[n-1].closed = true
	}
	h.ended = true
	h.changedLocked()
}

// ServeTrack serves one subscription until the track ends.
func (h *hub) ServeTrack(tw *moqt.TrackWriter) {
	var (
		gw     *moqt.GroupWriter
		cur    *hubGroup
		sent   int
		opened bool // cur was opened
	)
	defer func() {
		if gw != nil {
			gw.Close()
		}
	}()
	for {
		h.mu.Lock()
		var frames []*moqt.Frame
		var closed bool
		if cur == nil && len(h.groups) > 0 {
			cur = h.groups[len(h.groups)-1] // start at the current group
		}
		if cur != nil {
			frames, closed = cur.frames, cur.closed
		}
		var following *hubGroup
		for _, g := range h.groups {
			if cur != nil && g.seq > cur.seq {
				following = g
				break
			}
		}
		ended, notify := h.ended, h.notify
		h.mu.Unlock()

		if cur != nil {
			if !opened {
				var err error
				if gw, err = tw.OpenGroup(cur.seq); err != nil {
					return
				}
				opened = true
			}
			for ; sent < len(frames); sent++ {
				if err := gw.WriteFrame(frames[sent]); err != nil {
					return
				}
			}
			if closed {
				if gw != nil {
					gw.Close()
					gw = nil
				}
				if following != nil {
					cur, sent, opened = following, 0, false
					continue
				}
			}
		}
		if ended && (cur == nil || closed) {
			tw.Close()
			return
		}
		select {
		case <-notify:
		case <-tw.Context().Done():
			return
		}
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
