package wire

import (
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// Datagram is one QUIC datagram carrying a whole single-frame group (05
// only).
//
// Layout: SubscribeID(i) | Sequence(i) | Timestamp(i) | Payload. There is no
// length field and no framing: Append writes the whole datagram and Parse
// takes the whole datagram; the payload runs to its end.
type Datagram struct {
	// SubscribeID is the subscription the group belongs to.
	SubscribeID uint64
	// Sequence is the group's sequence number.
	Sequence uint64
	// Timestamp is the frame's absolute timestamp in the track's timescale.
	Timestamp uint64
	// Payload is the frame payload, at most [MaxDatagramPayload] bytes. After
	// Parse it aliases the input slice: copy it to keep it past the input's
	// lifetime.
	Payload []byte
}

func (m *Datagram) check(v Version) {
	needVersion(v.since(Lite05), "DATAGRAM", v)
	if len(m.Payload) > MaxDatagramPayload {
		panic(fmt.Errorf("wire: datagram: payload: %w (%d bytes, limit %d)", ErrTooLarge, len(m.Payload), MaxDatagramPayload))
	}
}

// Append appends the whole datagram. It panics unless v is 05 or later, and
// panics with an error wrapping ErrTooLarge if the payload exceeds
// MaxDatagramPayload.
func (m *Datagram) Append(b []byte, v Version) []byte {
	m.check(v)
	b = quicvarint.Append(b, m.SubscribeID)
	b = quicvarint.Append(b, m.Sequence)
	b = quicvarint.Append(b, m.Timestamp)
	return append(b, m.Payload...)
}

// Len returns len(m.Append(nil, v)).
func (m *Datagram) Len(v Version) int {
	m.check(v)
	return quicvarint.Len(m.SubscribeID) + quicvarint.Len(m.Sequence) +
		quicvarint.Len(m.Timestamp) + len(m.Payload)
}

// Parse decodes a whole datagram. Payload aliases data. It returns an error
// wrapping ErrInvalid if v is before 05, ErrTruncated if data ends inside the
// three varints, and ErrTooLarge if the payload exceeds MaxDatagramPayload.
func (m *Datagram) Parse(data []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("datagram", v)
	}
	p := parser{b: data, msg: "datagram"}
	var out Datagram
	out.SubscribeID = p.varint("subscribe id")
	out.Sequence = p.varint("sequence")
	out.Timestamp = p.varint("timestamp")
	if p.err != nil {
		return p.err
	}
	if len(p.b) > MaxDatagramPayload {
		return fmt.Errorf("wire: datagram: payload: %w (%d bytes, limit %d)", ErrTooLarge, len(p.b), MaxDatagramPayload)
	}
	out.Payload = p.b
	*m = out
	return nil
}
