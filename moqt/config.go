package moqt

import (
	"net/http"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/moqt/internal/wire"
)

// Version is a MoQ protocol version: a moq-lite draft or an IETF MoQ
// Transport draft, as its version code on the wire.
type Version uint64

// Supported moq-lite versions.
const (
	LiteDraft03 Version = Version(wire.Lite03)
	LiteDraft04 Version = Version(wire.Lite04)
	LiteDraft05 Version = Version(wire.Lite05)
)

// Supported IETF MoQ Transport versions (draft-ietf-moq-transport), whose
// ALPN / WebTransport protocol names are "moqt-17" … "moqt-20".
const (
	IETFDraft17 Version = Version(ietf.Draft17)
	IETFDraft18 Version = Version(ietf.Draft18)
	IETFDraft19 Version = Version(ietf.Draft19)
	IETFDraft20 Version = Version(ietf.Draft20)
)

// String returns the version's ALPN / WebTransport protocol name, such as
// "moq-lite-05" or "moqt-18".
func (v Version) String() string {
	if v.IsIETF() {
		return ietf.Version(v).String()
	}
	return wire.Version(v).String()
}

// IsIETF reports whether v is an IETF MoQ Transport draft rather than a
// moq-lite version.
func (v Version) IsIETF() bool { return ietf.Version(v).ALPN() != "" }

// lite and ietf split v into the version of its family (zero for the other).
func (v Version) lite() wire.Version {
	if v.IsIETF() {
		return 0
	}
	return wire.Version(v)
}

func (v Version) ietf() ietf.Version {
	if v.IsIETF() {
		return ietf.Version(v)
	}
	return 0
}

// parseVersion maps an ALPN / WebTransport protocol name to its version.
func parseVersion(s string) (Version, bool) {
	if v, ok := wire.ParseALPN(s); ok {
		return Version(v), true
	}
	if v, ok := ietf.ParseALPN(s); ok {
		return Version(v), true
	}
	return 0, false
}

// SupportedVersions returns the versions this package speaks, in its default
// order of preference: moq-lite newest first, then IETF MoQ Transport newest
// first (as moq-relay prefers them).
func SupportedVersions() []Version {
	var vs []Version
	for _, w := range wire.SupportedVersions() {
		vs = append(vs, Version(w))
	}
	for _, w := range ietf.SupportedVersions() {
		vs = append(vs, Version(w))
	}
	return vs
}

// LiteVersions returns the moq-lite versions, newest first.
func LiteVersions() []Version {
	var vs []Version
	for _, w := range wire.SupportedVersions() {
		vs = append(vs, Version(w))
	}
	return vs
}

// IETFVersions returns the IETF MoQ Transport versions, newest first.
func IETFVersions() []Version {
	var vs []Version
	for _, w := range ietf.SupportedVersions() {
		vs = append(vs, Version(w))
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

	// Versions restricts the versions offered (client) or accepted
	// (server), in preference order: a server picks the first of its list
	// that the client offered. Nil means SupportedVersions() (moq-lite
	// first, then IETF MoQ Transport).
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
