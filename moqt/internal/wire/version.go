package wire

import "fmt"

// Version is a moq-lite protocol version code as carried on the wire.
type Version uint64

// The moq-lite versions this package can encode and decode.
const (
	// Lite03 is moq-lite draft 03 (ALPN "moq-lite-03").
	Lite03 Version = 0xff0dad03
	// Lite04 is moq-lite draft 04 (ALPN "moq-lite-04"). It adds ExcludeHop to
	// the announce request, hop IDs to announcements, RTT to PROBE and the
	// GOAWAY stream.
	Lite04 Version = 0xff0dad04
	// Lite05 is moq-lite draft 05 (ALPN "moq-lite-05"). It adds the SETUP
	// stream, ANNOUNCE_OK, the TRACK stream, SUBSCRIBE_START/END, FETCH
	// service, frame timestamps and datagrams, and drops SUBSCRIBE_OK.
	Lite05 Version = 0xff0dad05
)

// String returns the version's name, such as "moq-lite-03", or
// "moq-lite-unknown(0x...)" for a code this package does not know.
func (v Version) String() string {
	if s := v.ALPN(); s != "" {
		return s
	}
	return fmt.Sprintf("moq-lite-unknown(0x%x)", uint64(v))
}

// ALPN returns the TLS ALPN / WebTransport protocol string that selects v
// ("moq-lite-03", "moq-lite-04" or "moq-lite-05"), or "" if v is unknown.
func (v Version) ALPN() string {
	switch v {
	case Lite03:
		return "moq-lite-03"
	case Lite04:
		return "moq-lite-04"
	case Lite05:
		return "moq-lite-05"
	}
	return ""
}

// ParseALPN maps an ALPN / WebTransport protocol string back to its version.
// It reports false for anything but the exact strings returned by
// [Version.ALPN].
func ParseALPN(s string) (Version, bool) {
	switch s {
	case "moq-lite-03":
		return Lite03, true
	case "moq-lite-04":
		return Lite04, true
	case "moq-lite-05":
		return Lite05, true
	}
	return 0, false
}

// SupportedVersions returns a fresh slice of the supported versions, newest
// first: Lite05, Lite04, Lite03.
func SupportedVersions() []Version {
	return []Version{Lite05, Lite04, Lite03}
}

// known reports whether v is one of the versions this package implements.
func (v Version) known() bool {
	return v == Lite03 || v == Lite04 || v == Lite05
}

// since reports whether v is a known version at or after first.
func (v Version) since(first Version) bool {
	return v.known() && v >= first
}

// Stream types: the first varint on every stream. Bidirectional and
// unidirectional streams have separate numbering.
const (
	// StreamAnnounce (bidi) carries an announce request and the announcements.
	StreamAnnounce uint64 = 0x1
	// StreamSubscribe (bidi) carries SUBSCRIBE, SUBSCRIBE_UPDATE and the
	// typed subscribe responses.
	StreamSubscribe uint64 = 0x2
	// StreamFetch (bidi) carries FETCH and a bare sequence of frames. Peers
	// serve it on 05 only.
	StreamFetch uint64 = 0x3
	// StreamProbe (bidi) carries PROBE reports from the publisher.
	StreamProbe uint64 = 0x4
	// StreamGoaway (bidi, 04+) carries GOAWAY.
	StreamGoaway uint64 = 0x5
	// StreamTrack (bidi, 05+) carries TRACK and its TRACK_INFO reply.
	StreamTrack uint64 = 0x6
	// StreamGroup (uni) carries a group header and the group's frames.
	StreamGroup uint64 = 0x0
	// StreamSetup (uni, 05+) carries a single SETUP message, then FIN.
	StreamSetup uint64 = 0x1
)

// MaxHops is the maximum number of hop IDs in an announcement's hop chain.
const MaxHops = 32

// MaxSetupParams is the maximum number of parameters in a SETUP message.
const MaxSetupParams = 64

// MaxDatagramPayload is the largest datagram payload, in bytes, that
// [Datagram] will encode or accept.
const MaxDatagramPayload = 1200

// DefaultMaxMessage is the message size limit [NewReader] uses when given a
// non-positive limit.
const DefaultMaxMessage = 64 << 10

// MaxVarint is the largest value a QUIC varint can carry (2^62-1).
const MaxVarint = 1<<62 - 1
