package moqt

import (
	"net/http"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/wire"
)

// Version is a moq-lite protocol version.
type Version uint64

// Supported moq-lite versions.
const (
	LiteDraft03 Version = Version(wire.Lite03)
	LiteDraft04 Version = Version(wire.Lite04)
	LiteDraft05 Version = Version(wire.Lite05)
)

// String returns the version's ALPN / WebTransport protocol name, such as
// "moq-lite-05".
func (v Version) String() string { return wire.Version(v).String() }

// SupportedVersions returns the versions this package speaks, newest first.
func SupportedVersions() []Version {
	ws := wire.SupportedVersions()
	vs := make([]Version, len(ws))
	for i, w := range ws {
		vs[i] = Version(w)
	}
	return vs
}

// Config holds MoQ settings shared by servers and clients. The zero value
// (and a nil *Config) is usable: every field documents its default.
type Config struct {
	// CheckHTTPOrigin decides whether a WebTransport request's Origin is
	// allowed. Nil means webtransport-go's same-origin check: a request
	// without Origin, or whose Origin host equals the Host header, passes.
	// A refused request gets HTTP 403.
	CheckHTTPOrigin func(r *http.Request) bool

	// Versions restricts the moq-lite versions offered (client) or accepted
	// (server), in preference order. Nil means SupportedVersions().
	Versions []Version

	// SetupTimeout bounds session establishment: the WebTransport CONNECT
	// or the moq-lite-05 SETUP exchange, and a subscriber's wait for the
	// first response to SUBSCRIBE or TRACK. Default 10s.
	SetupTimeout time.Duration

	// MaxMessageSize bounds every control message read from a peer.
	// Default 64 KiB.
	MaxMessageSize int

	// MaxFrameSize bounds every frame payload read from a peer; a larger
	// frame resets its group with FrameTooLargeError. Default 16 MiB.
	MaxFrameSize int

	// MaxSubscriptions bounds the subscriptions a peer may hold open on one
	// session at once; further SUBSCRIBEs are reset with TooManyError.
	// Default 1024.
	MaxSubscriptions int

	// MaxAnnounceStreams bounds the announcement streams a peer may hold
	// open on one session at once. Default 64.
	MaxAnnounceStreams int

	// MaxSessions bounds the sessions a Server holds at once; further
	// setup requests are refused (HTTP 503, or a connection close).
	// Default 10000. Unused by clients.
	MaxSessions int

	// MaxLatency is the latency bound of subscriptions we serve when
	// neither the subscriber (TrackConfig.MaxLatency) nor the track
	// (TrackInfo.MaxLatency) sets one: a group is dropped for a subscriber
	// only once a newer group exists and the group's oldest frame not yet
	// sent is older than this. Default 2s.
	MaxLatency time.Duration

	// MaxTrackBuffer bounds the bytes a subscription we serve may have
	// queued and not yet sent. Past it, the oldest groups other than the
	// newest are dropped (and reported) until it fits. Default 64 MiB.
	MaxTrackBuffer int

	// MaxAnnouncements bounds the broadcasts a peer may have announced to
	// one of our announcement readers at once; a peer that announces more
	// is a protocol violation. Default 65536.
	MaxAnnouncements int

	// StreamHeaderTimeout bounds the wait for the type and header of a
	// stream the peer opened; a stream that sends none in time is reset.
	// Default 10s.
	StreamHeaderTimeout time.Duration

	// LegacyEndGrace applies to moq-lite-03 and 04 only, whose wire cannot
	// say how many groups are still in flight when a publisher finishes a
	// subscription: the subscription still takes group streams for this
	// long after the publisher's FIN. Default 500ms. (moq-lite-05 ends
	// tracks by SUBSCRIBE_END accounting, without a timer.)
	LegacyEndGrace time.Duration

	// OriginID is the hop ID this endpoint adds to (moq-lite-03/04) or
	// sends with (moq-lite-05) the announcements it forwards, and asks
	// peers to exclude from the announcements they send it (04 and 05).
	// Relays that link into a cluster set the same non-zero ID on their
	// Server and on the Clients that dial their peers, so that a
	// broadcast is never sent back to a relay it passed through. It must
	// be below 2^53 (JavaScript peers decode it as a number); a larger
	// value keeps its low 53 bits. Zero means a random ID per Server or
	// Client.
	OriginID uint64
}

// originID returns OriginID, or fallback when it is zero.
func (c *Config) originID(fallback uint64) uint64 {
	if c == nil || c.OriginID&(1<<53-1) == 0 {
		return fallback
	}
	return c.OriginID & (1<<53 - 1)
}

const (
	defaultSetupTimeout       = 10 * time.Second
	defaultMaxMessageSize     = 64 << 10
	defaultMaxFrameSize       = 16 << 20
	defaultMaxSubscriptions   = 1024
	defaultMaxAnnounceStreams = 64
	defaultMaxSessions        = 10000
	defaultMaxLatency         = 2 * time.Second
	defaultMaxTrackBuffer     = 64 << 20
	defaultMaxAnnouncements   = 1 << 16
	defaultStreamHeader       = 10 * time.Second
)

func (c *Config) legacyEndGrace() time.Duration {
	if c == nil || c.LegacyEndGrace <= 0 {
		return 500 * time.Millisecond
	}
	return c.LegacyEndGrace
}

func (c *Config) maxLatency() time.Duration {
	if c == nil || c.MaxLatency <= 0 {
		return defaultMaxLatency
	}
	return c.MaxLatency
}

func (c *Config) maxTrackBuffer() int {
	if c == nil || c.MaxTrackBuffer <= 0 {
		return defaultMaxTrackBuffer
	}
	return c.MaxTrackBuffer
}

func (c *Config) maxAnnouncements() int {
	if c == nil || c.MaxAnnouncements <= 0 {
		return defaultMaxAnnouncements
	}
	return c.MaxAnnouncements
}

func (c *Config) streamHeaderTimeout() time.Duration {
	if c == nil || c.StreamHeaderTimeout <= 0 {
		return defaultStreamHeader
	}
	return c.StreamHeaderTimeout
}

func (c *Config) versions() []Version {
	if c == nil || len(c.Versions) == 0 {
		return SupportedVersions()
	}
	return c.Versions
}

func (c *Config) setupTimeout() time.Duration {
	if c == nil || c.SetupTimeout <= 0 {
		return defaultSetupTimeout
	}
	return c.SetupTimeout
}

func (c *Config) maxMessageSize() int {
	if c == nil || c.MaxMessageSize <= 0 {
		return defaultMaxMessageSize
	}
	return c.MaxMessageSize
}

func (c *Config) maxFrameSize() int {
	if c == nil || c.MaxFrameSize <= 0 {
		return defaultMaxFrameSize
	}
	return c.MaxFrameSize
}

func (c *Config) maxSubscriptions() int {
	if c == nil || c.MaxSubscriptions <= 0 {
		return defaultMaxSubscriptions
	}
	return c.MaxSubscriptions
}

func (c *Config) maxAnnounceStreams() int {
	if c == nil || c.MaxAnnounceStreams <= 0 {
		return defaultMaxAnnounceStreams
	}
	return c.MaxAnnounceStreams
}

func (c *Config) maxSessions() int {
	if c == nil || c.MaxSessions <= 0 {
		return defaultMaxSessions
	}
	return c.MaxSessions
}

// supportsVersion reports whether v is among the configured versions.
func (c *Config) supportsVersion(v Version) bool {
	for _, x := range c.versions() {
		if x == v {
			return true
		}
	}
	return false
}
