package wire

import "github.com/quic-go/quic-go/quicvarint"

// GroupHeader is the first message on a group stream, after the stream type
// varint [StreamGroup] (which the caller writes separately).
//
// Body: SubscribeID(i) | Sequence(i). Frames follow, each a frame header (see
// [AppendFrameHeader]) and its payload.
type GroupHeader struct {
	// SubscribeID is the ID of the subscription the group belongs to.
	SubscribeID uint64
	// Sequence is the group's sequence number.
	Sequence uint64
}

func (m *GroupHeader) bodyLen(v Version) int {
	needVersion(v.known(), "GROUP", v)
	return quicvarint.Len(m.SubscribeID) + quicvarint.Len(m.Sequence)
}

// Append appends Length | body.
func (m *GroupHeader) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = quicvarint.Append(b, m.SubscribeID)
	return quicvarint.Append(b, m.Sequence)
}

// Len returns len(m.Append(nil, v)).
func (m *GroupHeader) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one group header body.
func (m *GroupHeader) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("group header", v)
	}
	p := parser{b: body, msg: "group header"}
	var out GroupHeader
	out.SubscribeID = p.varint("subscribe id")
	out.Sequence = p.varint("sequence")
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Zigzag maps a signed integer to an unsigned one so that small magnitudes
// stay small: 0→0, -1→1, 1→2, -2→3, ... ((n<<1) ^ (n>>63)).
func Zigzag(n int64) uint64 {
	return uint64(n<<1) ^ uint64(n>>63)
}

// Unzigzag inverts [Zigzag].
func Unzigzag(u uint64) int64 {
	return int64(u>>1) ^ -int64(u&1)
}

// Range of a timestamp delta whose zigzag form fits a varint.
const (
	minTsDelta = -(1 << 61)
	maxTsDelta = 1<<61 - 1
)

// AppendFrameHeader appends the header of one frame on a group stream (or a
// FETCH reply): Length(i) on 03/04; Zigzag(tsDelta)(i) | Length(i) on 05,
// where tsDelta is the frame's timestamp minus the previous frame's, in the
// track's timescale (the first frame of a group or fetch deltas from 0). The
// payload itself is written separately by the caller.
//
// On 03/04 frames carry no timestamp and tsDelta is ignored. It panics on an
// unknown version, a negative payloadLen, or (05) a tsDelta outside
// [-2^61, 2^61-1]. It does not allocate when b has room.
func AppendFrameHeader(b []byte, v Version, tsDelta int64, payloadLen int) []byte {
	switch v {
	case Lite03, Lite04:
	case Lite05:
		if tsDelta < minTsDelta || tsDelta > maxTsDelta {
			panicf("frame timestamp delta %d out of range", tsDelta)
		}
		b = quicvarint.Append(b, Zigzag(tsDelta))
	default:
		panicf("frame header: unknown version %s", v)
	}
	if payloadLen < 0 || uint64(payloadLen) > MaxVarint {
		panicf("frame payload length %d out of range", payloadLen)
	}
	return quicvarint.Append(b, uint64(payloadLen))
}

// FrameHeaderLen returns len(AppendFrameHeader(nil, v, tsDelta, payloadLen)),
// with the same panics.
func FrameHeaderLen(v Version, tsDelta int64, payloadLen int) int {
	n := 0
	switch v {
	case Lite03, Lite04:
	case Lite05:
		if tsDelta < minTsDelta || tsDelta > maxTsDelta {
			panicf("frame timestamp delta %d out of range", tsDelta)
		}
		n = quicvarint.Len(Zigzag(tsDelta))
	default:
		panicf("frame header: unknown version %s", v)
	}
	if payloadLen < 0 || uint64(payloadLen) > MaxVarint {
		panicf("frame payload length %d out of range", payloadLen)
	}
	return n + quicvarint.Len(uint64(payloadLen))
}

// ParseFrameHeader decodes a frame header from the start of b, returning the
// timestamp delta (always 0 on 03/04), the payload size and the header's
// length in bytes. It returns an error wrapping ErrTruncated if b ends inside
// the header and ErrInvalid for an unknown version. The size is not checked
// against any limit.
func ParseFrameHeader(b []byte, v Version) (tsDelta int64, size uint64, n int, err error) {
	p := parser{b: b, msg: "frame header"}
	switch v {
	case Lite03, Lite04:
	case Lite05:
		tsDelta = Unzigzag(p.varint("timestamp delta"))
	default:
		return 0, 0, 0, versionError("frame header", v)
	}
	size = p.varint("size")
	if p.err != nil {
		return 0, 0, 0, p.err
	}
	return tsDelta, size, len(b) - len(p.b), nil
}
