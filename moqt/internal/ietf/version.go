package ietf

import "fmt"

// Version is an IETF MoQ Transport version code as carried on the wire
// (0xff000000 + draft number).
type Version uint64

// The drafts this package can encode and decode.
const (
	// Draft17 is draft-ietf-moq-transport-17 (ALPN "moqt-17"): the first
	// draft with the leading-ones varint, the SETUP uni-stream pair and
	// requests on their own bidi streams. Requests carry a Required Request
	// ID Delta; SUBSCRIBE_NAMESPACE is type 0x11 with Subscribe Options.
	Draft17 Version = 0xff000011
	// Draft18 is draft-ietf-moq-transport-18 (ALPN "moqt-18"). It adds the
	// 7-byte varint form, drops Required Request ID Delta, renumbers
	// SUBSCRIBE_NAMESPACE to 0x50 (without Subscribe Options), adds Track
	// Properties to REQUEST_OK, an optional Request ID to GOAWAY, and the
	// FIRST_OBJECT (0x40) bit and delta-coded IDs to subgroup headers.
	Draft18 Version = 0xff000012
	// Draft19 is draft-ietf-moq-transport-19 (ALPN "moqt-19"). It drops the
	// GOAWAY Request ID again and adds range filters (message parameters
	// 0x25..0x29).
	Draft19 Version = 0xff000013
	// Draft20 is draft-ietf-moq-transport-20 (ALPN "moqt-20"). It re-encodes
	// the LOCATION_FILTER parameter (0x21) as up to four varints and adds
	// INCLUDE_PROPERTIES (0x35) and FILL_PARAMETERS (0x23).
	Draft20 Version = 0xff000014
)

// String returns the version's ALPN, such as "moqt-17", or
// "moqt-unknown(0x...)" for a code this package does not know.
func (v Version) String() string {
	if s := v.ALPN(); s != "" {
		return s
	}
	return fmt.Sprintf("moqt-unknown(0x%x)", uint64(v))
}

// ALPN returns the TLS ALPN / WebTransport protocol string that selects v
// ("moqt-17" … "moqt-20"), or "" if v is unknown.
func (v Version) ALPN() string {
	if !v.known() {
		return ""
	}
	return fmt.Sprintf("moqt-%d", uint64(v)-0xff000000)
}

// ParseALPN maps an ALPN / WebTransport protocol string back to its version.
// It reports false for anything but the exact strings returned by
// [Version.ALPN].
func ParseALPN(s string) (Version, bool) {
	for _, v := range SupportedVersions() {
		if v.ALPN() == s {
			return v, true
		}
	}
	return 0, false
}

// SupportedVersions returns a fresh slice of the supported versions, newest
// first: Draft20, Draft19, Draft18, Draft17.
func SupportedVersions() []Version {
	return []Version{Draft20, Draft19, Draft18, Draft17}
}

// known reports whether v is one of the versions this package implements.
func (v Version) known() bool {
	return v >= Draft17 && v <= Draft20
}

// since reports whether v is a known version at or after first.
func (v Version) since(first Version) bool {
	return v.known() && v >= first
}

// Limits the decoders enforce. Each is the drafts' own limit where they
// state one.
const (
	// MaxMessageLen is the largest control message payload: its Length
	// field is 16 bits.
	MaxMessageLen = 1<<16 - 1
	// MaxNamespaceFields is the most fields a Track Namespace may have.
	MaxNamespaceFields = 32
	// MaxFullTrackName is the largest total length, in bytes, of a
	// namespace's fields plus the track name.
	MaxFullTrackName = 4096
	// MaxReasonLen is the longest Reason Phrase, in bytes.
	MaxReasonLen = 1024
	// MaxGoawayURILen is the longest GOAWAY New Session URI, in bytes.
	MaxGoawayURILen = 8192
	// MaxKVPValueLen is the longest byte value of a Key-Value-Pair.
	MaxKVPValueLen = 1<<16 - 1
)
