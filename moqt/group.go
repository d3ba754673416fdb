package moqt

import (
	"sync"
	"time"
)

// GroupBuffer is one group's frames as an append-only log: a producer
// appends frames and finally closes (or aborts) it, and any number of
// subscriptions send it at once, each following the log at its own pace
// without copying a frame. A relay keeps one GroupBuffer per group it
// receives and hands it to every downstream subscription with
// TrackWriter.SendGroup; TrackWriter.OpenGroup creates one per subscription.
//
// Its methods are safe for concurrent use. The zero value is not usable;
// call NewGroupBuffer.
type GroupBuffer struct {
	seq     uint64
	created int64 // monotonic ns (clock) when the buffer was made

	mu     sync.Mutex
	frames []*Frame
	times  []int64 // monotonic ns (clock) when each frame was appended
	bytes  int
	done   bool
	code   StreamErrorCode // with done: the group was aborted with code
	failed bool
	notify chan struct{} // closed on the next change; nil until someone waits
}

// clockBase is the origin of the monotonic clock the buffers and senders
// share.
var clockBase = time.Now()

func clock() int64 { return int64(time.Since(clockBase)) }

// NewGroupBuffer returns an empty, open buffer for group seq.
func NewGroupBuffer(seq uint64) *GroupBuffer {
	return &GroupBuffer{seq: seq, created: clock()}
}

// Sequence returns the group's sequence number.
func (b *GroupBuffer) Sequence() uint64 { return b.seq }

// Append adds a frame to the group. The frame must not be modified
// afterwards. It reports false if the group was already closed or aborted.
func (b *GroupBuffer) Append(f *Frame) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return false
	}
	b.frames = append(b.frames, f)
	b.times = append(b.times, clock())
	b.bytes += len(f.Payload)
	b.changedLocked()
	return true
}

// Close marks the group complete: every subscription sending it finishes
// its stream after the last frame.
func (b *GroupBuffer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		b.changedLocked()
	}
}

// Abort marks the group failed: every subscription sending it resets its
// stream with code.
func (b *GroupBuffer) Abort(code StreamErrorCode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done, b.failed, b.code = true, true, code
		b.changedLocked()
	}
}

// Len returns the number of frames and payload bytes appended so far.
func (b *GroupBuffer) Len() (frames, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.frames), b.bytes
}

// Frames returns the frames from index from on, whether the group is done
// (and if so whether it was aborted, with which code), and a channel that
// is closed at the next change. The returned slice must not be modified.
func (b *GroupBuffer) Frames(from int) (frames []*Frame, st GroupState, changed <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if from < len(b.frames) {
		frames = b.frames[from:len(b.frames):len(b.frames)]
	}
	st = GroupState{Done: b.done, Aborted: b.failed, Code: b.code}
	if !b.done {
		if b.notify == nil {
			b.notify = make(chan struct{})
		}
		changed = b.notify
	}
	return frames, st, changed
}

// GroupState is the completion state of a GroupBuffer.
type GroupState struct {
	Done    bool            // no frame will be appended
	Aborted bool            // with Done: the group failed
	Code    StreamErrorCode // with Aborted: the reset code
}

// pendingSince returns when the frame at index i was appended, or when the
// buffer was created if i is past its end; ok is false when the group is
// done and every frame up to i was taken (nothing is pending).
func (b *GroupBuffer) pendingSince(i int) (t int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < len(b.times) {
		return b.times[i], true
	}
	return 0, false
}

func (b *GroupBuffer) changedLocked() {
	if b.notify != nil {
		close(b.notify)
		b.notify = nil
	}
}
