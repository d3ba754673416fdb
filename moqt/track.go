package moqt

import (
	"time"
)

// Frame is one frame of a group. A Frame passed to GroupWriter.WriteFrame or
// returned by GroupReader.ReadFrame must not be modified afterwards: relays
// share one Frame among all the subscribers they forward it to.
type Frame struct {
	// Payload is the frame's bytes.
	Payload []byte
	// Timestamp is the frame's presentation time in the track's timescale
	// (TrackInfo.Timescale ticks per second). It travels on the wire from
	// moq-lite-05 on; on earlier versions it is zero when read.
	Timestamp uint64
}

// NewFrame returns a frame holding payload (not copied).
func NewFrame(payload []byte) *Frame { return &Frame{Payload: payload} }

// TrackConfig is what a subscriber asks of a track. The zero value asks for
// the publisher's defaults from the latest group on.
type TrackConfig struct {
	// Priority of the track among the session's subscriptions; higher is
	// sent first.
	Priority uint8
	// Ordered asks for groups in sequence order rather than newest first.
	Ordered bool
	// MaxLatency is how far behind the live edge the subscriber accepts to
	// be before old groups are dropped; 0 means the publisher's choice.
	MaxLatency time.Duration
	// StartGroup, if set, is the first group sequence wanted.
	StartGroup *uint64
	// EndGroup, if set, is the last group sequence wanted (inclusive).
	EndGroup *uint64
}

// TrackInfo describes a track as its publisher serves it.
type TrackInfo struct {
	// Priority is the publisher's priority for the track.
	Priority uint8
	// Ordered reports whether the publisher delivers groups in order.
	Ordered bool
	// MaxLatency is how long the publisher keeps old groups.
	MaxLatency time.Duration
	// Timescale is the number of timestamp ticks per second of the track's
	// frames. Zero means DefaultTimescale.
	Timescale uint64
}

// DefaultTimescale is the timescale (ticks per second) of tracks whose
// publisher does not say otherwise: microseconds.
const DefaultTimescale = 1_000_000

func (i TrackInfo) timescale() uint64 {
	if i.Timescale == 0 {
		return DefaultTimescale
	}
	return i.Timescale
}

// TrackHandler serves subscriptions to the tracks of a broadcast.
//
// ServeTrack is called in its own goroutine for each subscription. It writes
// groups to tw and returns when done; the track is closed (finished) when
// ServeTrack returns, if it was not closed before. tw.Context() is cancelled
// when the subscriber goes away or the session ends.
type TrackHandler interface {
	ServeTrack(tw *TrackWriter)
}

// TrackHandlerFunc adapts a function to a TrackHandler.
type TrackHandlerFunc func(tw *TrackWriter)

// ServeTrack calls f(tw).
func (f TrackHandlerFunc) ServeTrack(tw *TrackWriter) { f(tw) }

// TrackInfoHandler is implemented by TrackHandlers that know their tracks'
// properties before a subscription starts. The session asks it to answer
// moq-lite-05 TRACK requests and to fill in SUBSCRIBE_OK on earlier versions.
// A handler without it serves every track name with a zero TrackInfo
// (DefaultTimescale). An error whose code is NotFoundError (a
// *SubscribeError) refuses the track.
type TrackInfoHandler interface {
	TrackInfo(broadcast BroadcastPath, track TrackName) (TrackInfo, error)
}
