package moqt

import (
	"context"
	"sync"
)

// TrackMux is a table of the broadcasts a session publishes: it maps
// broadcast paths to the TrackHandlers that serve their tracks, and tells
// peers that ask which broadcasts are announced.
//
// One TrackMux may be shared by many sessions. A server session sees the mux
// through the path of the URL the client connected to: a client at "/room"
// that subscribes to "alice" is served the mux's "/room/alice".
//
// A TrackMux is itself a TrackHandler that dispatches on the track's
// broadcast path.
type TrackMux struct {
	mu         sync.Mutex
	broadcasts map[string]*muxEntry
	watchers   map[*muxWatcher]struct{}
}

type muxEntry struct {
	ann     *Announcement
	handler TrackHandler
}

// muxWatcher receives the announcements under a prefix. fn is called with
// the mux locked and must not block.
type muxWatcher struct {
	prefix string
	fn     func(a *Announcement, active bool)
}

// NewTrackMux returns an empty TrackMux.
func NewTrackMux() *TrackMux {
	return &TrackMux{}
}

// DefaultTrackMux is the TrackMux used by Server.Accept and Client.Dial when
// they are given a nil mux.
var DefaultTrackMux = NewTrackMux()

// Publish announces the broadcast at path and serves its tracks with
// handler until ctx is cancelled, when the broadcast is unpublished and its
// end announced. Publishing a path that is already published replaces the
// older broadcast, whose announcement ends.
func (m *TrackMux) Publish(ctx context.Context, path BroadcastPath, handler TrackHandler) {
	a, _ := NewAnnouncement(ctx, path)
	m.Announce(a, handler)
}

// PublishFunc is Publish with a function as the handler.
func (m *TrackMux) PublishFunc(ctx context.Context, path BroadcastPath, f func(tw *TrackWriter)) {
	m.Publish(ctx, path, TrackHandlerFunc(f))
}

// Announce publishes the broadcast of ann, served by handler, until ann
// ends. An announcement that already ended is ignored.
func (m *TrackMux) Announce(ann *Announcement, handler TrackHandler) {
	if handler == nil {
		panic("moqt: TrackMux.Announce with nil handler")
	}
	if !ann.IsActive() {
		return
	}
	e := &muxEntry{ann: ann, handler: handler}
	m.mu.Lock()
	if m.broadcasts == nil {
		m.broadcasts = make(map[string]*muxEntry)
	}
	old := m.broadcasts[ann.path]
	m.broadcasts[ann.path] = e
	if old != nil {
		m.notifyLocked(old.ann, false)
	}
	m.notifyLocked(ann, true)
	m.mu.Unlock()
	if old != nil {
		old.ann.End()
	}
	context.AfterFunc(ann.ctx, func() { m.remove(e) })
}

func (m *TrackMux) remove(e *muxEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broadcasts[e.ann.path] != e {
		return // replaced; its end was announced then
	}
	delete(m.broadcasts, e.ann.path)
	m.notifyLocked(e.ann, false)
}

func (m *TrackMux) notifyLocked(a *Announcement, active bool) {
	for w := range m.watchers {
		if _, ok := stripPrefix(a.path, w.prefix); ok {
			w.fn(a, active)
		}
	}
}

// Handler returns the handler of the broadcast at path, if it is published.
func (m *TrackMux) Handler(path BroadcastPath) (TrackHandler, bool) {
	h := m.handler(cleanPath(string(path)))
	return h, h != nil
}

func (m *TrackMux) handler(path string) TrackHandler {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.broadcasts[path]; e != nil {
		return e.handler
	}
	return nil
}

// Announcements returns the active announcements under prefix.
func (m *TrackMux) Announcements(prefix BroadcastPath) []*Announcement {
	p := cleanPath(string(prefix))
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Announcement
	for path, e := range m.broadcasts {
		if _, ok := stripPrefix(path, p); ok {
			out = append(out, e.ann)
		}
	}
	return out
}

// watch returns the active announcements under prefix and calls fn for
// every later start and end, until the returned cancel function is called.
// fn is called with the mux locked: it must not block or call into the mux.
func (m *TrackMux) watch(prefix string, fn func(a *Announcement, active bool)) (initial []*Announcement, cancel func()) {
	w := &muxWatcher{prefix: prefix, fn: fn}
	m.mu.Lock()
	if m.watchers == nil {
		m.watchers = make(map[*muxWatcher]struct{})
	}
	m.watchers[w] = struct{}{}
	for path, e := range m.broadcasts {
		if _, ok := stripPrefix(path, prefix); ok {
			initial = append(initial, e.ann)
		}
	}
	m.mu.Unlock()
	return initial, func() {
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
	}
}

// ServeTrack serves tw with the handler of its broadcast, or refuses it
// with NotFoundError.
func (m *TrackMux) ServeTrack(tw *TrackWriter) {
	h := m.handler(cleanPath(string(tw.BroadcastPath())))
	if h == nil {
		tw.CloseWithError(NotFoundError)
		return
	}
	h.ServeTrack(tw)
}

// TrackInfo answers with the TrackInfo of the broadcast's handler.
func (m *TrackMux) TrackInfo(broadcast BroadcastPath, track TrackName) (TrackInfo, error) {
	h := m.handler(cleanPath(string(broadcast)))
	if h == nil {
		return TrackInfo{}, &SubscribeError{Code: NotFoundError}
	}
	if ih, ok := h.(TrackInfoHandler); ok {
		return ih.TrackInfo(broadcast, track)
	}
	return TrackInfo{}, nil
}
