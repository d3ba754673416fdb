package moqt

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
)

// Announcement says that a broadcast is available. It is active from its
// creation until End is called or its context is cancelled; Done is closed
// then.
type Announcement struct {
	path   string // clean
	hops   []uint64
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// ErrAnnouncementEnded is the Err of an announcement that was ended on
// purpose: by End, or by its publisher (an end message from the peer, or
// the peer announcing the path again).
var ErrAnnouncementEnded = errors.New("moqt: announcement ended")

// NewAnnouncement returns an active announcement of the broadcast at path,
// which ends when ctx is cancelled or the returned end function is called.
func NewAnnouncement(ctx context.Context, path BroadcastPath) (*Announcement, func()) {
	a := newAnnouncement(ctx, cleanPath(string(path)), nil)
	return a, a.End
}

// NewRelayedAnnouncement is NewAnnouncement for a broadcast that reached
// this node through others: hops are the hop IDs it passed through, oldest
// first, as Hops reports them (a relay passes on the hops of the
// announcement it received). Peers refuse it if it carries their own ID.
func NewRelayedAnnouncement(ctx context.Context, path BroadcastPath, hops []uint64) (*Announcement, func()) {
	a := newAnnouncement(ctx, cleanPath(string(path)), slices.Clone(hops))
	return a, a.End
}

func newAnnouncement(ctx context.Context, path string, hops []uint64) *Announcement {
	a := &Announcement{path: path, hops: hops}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	return a
}

// BroadcastPath returns the announced broadcast's path.
func (a *Announcement) BroadcastPath() BroadcastPath { return BroadcastPath("/" + a.path) }

// Hops returns the hop IDs (origins) the announcement passed through,
// oldest first. Announcements made locally have none.
func (a *Announcement) Hops() []uint64 { return slices.Clone(a.hops) }

// IsActive reports whether the announcement has not ended.
func (a *Announcement) IsActive() bool { return a.ctx.Err() == nil }

// Done returns a channel closed when the announcement ends.
func (a *Announcement) Done() <-chan struct{} { return a.ctx.Done() }

// Context returns a context cancelled when the announcement ends.
func (a *Announcement) Context() context.Context { return a.ctx }

// End ends the announcement. Calling it again does nothing.
func (a *Announcement) End() { a.cancel(ErrAnnouncementEnded) }

// Err returns nil while the announcement is active, then why it ended:
// ErrAnnouncementEnded when it was ended on purpose; for a peer's
// announcement, io.EOF when the peer closed the announce stream, else the
// error that ended the stream or the session (a *SessionError, say); the
// cause of its context's cancellation otherwise.
func (a *Announcement) Err() error {
	if a.ctx.Err() == nil {
		return nil
	}
	return context.Cause(a.ctx)
}

func (a *Announcement) hasHop(h uint64) bool {
	return h != 0 && slices.Contains(a.hops, h)
}

// AnnouncementReader receives the announcements of a peer's broadcasts under
// a prefix, as returned by Session.AcceptAnnounce.
type AnnouncementReader struct {
	prefix string

	mu     sync.Mutex
	queue  []*Announcement
	active map[string]*Announcement
	err    error // set when the stream ended
	notify chan struct{}

	close func(error)
}

func newAnnouncementReader(prefix string, close func(error)) *AnnouncementReader {
	return &AnnouncementReader{
		prefix: prefix,
		active: make(map[string]*Announcement),
		notify: make(chan struct{}, 1),
		close:  close,
	}
}

// Prefix returns the prefix the reader was opened with.
func (r *AnnouncementReader) Prefix() BroadcastPath { return BroadcastPath("/" + r.prefix) }

// ReceiveAnnouncement returns the next active announcement. Each
// announcement is returned once; watch its Done channel for its end. One
// that ended before it was returned is not returned at all.
// It returns io.EOF after the peer closed the stream and every announcement
// was returned, or the error that ended the stream.
func (r *AnnouncementReader) ReceiveAnnouncement(ctx context.Context) (*Announcement, error) {
	for {
		r.mu.Lock()
		if len(r.queue) > 0 {
			a := r.queue[0]
			r.queue[0] = nil
			r.queue = r.queue[1:]
			r.mu.Unlock()
			return a, nil
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

// Close stops receiving announcements. Announcements already returned end.
func (r *AnnouncementReader) Close() error {
	r.close(nil)
	r.finish(ErrClosedSession)
	return nil
}

func (r *AnnouncementReader) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// add records an active announcement for path (relative to the prefix
// already joined). A second active for a live path restarts it.
func (r *AnnouncementReader) add(path string, hops []uint64, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return true
	}
	if old := r.active[path]; old != nil {
		old.End()
		r.unqueueLocked(old)
	} else if len(r.active) >= limit {
		return false
	}
	a := newAnnouncement(context.Background(), path, hops)
	r.active[path] = a
	r.queue = append(r.queue, a)
	r.wake()
	return true
}

// unqueueLocked drops an ended announcement that was not returned yet.
func (r *AnnouncementReader) unqueueLocked(a *Announcement) {
	for i, q := range r.queue {
		if q == a {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			return
		}
	}
}

// end ends the active announcement of path; it reports false when there was
// none.
func (r *AnnouncementReader) end(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.active[path]
	if a == nil {
		return false
	}
	delete(r.active, path)
	a.End()
	r.unqueueLocked(a)
	return true
}

// finish ends the stream with err (io.EOF for a clean end) and every
// announcement still active.
func (r *AnnouncementReader) finish(err error) {
	if err == nil {
		err = io.EOF
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.err = err
	for p, a := range r.active {
		a.cancel(err)
		delete(r.active, p)
	}
	r.wake()
}

// WithPath returns an announcement of the same broadcast under another path,
// for relays that publish a peer's broadcast in their own namespace: it
// carries the same hops and ends when a ends (or when its own End is
// called).
func (a *Announcement) WithPath(path BroadcastPath) *Announcement {
	return newAnnouncement(a.ctx, cleanPath(string(path)), a.hops)
}
