package wire

import (
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// AnnounceRequest is the subscriber's first message on an Announce stream
// ([StreamAnnounce]): ANNOUNCE_PLEASE on 03, ANNOUNCE_SUBSCRIBE on 04,
// ANNOUNCE_REQUEST on 05.
//
// Body: Prefix(s) on 03; Prefix(s) | ExcludeHop(i) on 04 and 05.
type AnnounceRequest struct {
	// Prefix is the path prefix, relative to the connection's root.
	Prefix string
	// ExcludeHop is the requester's own origin ID, so the publisher can skip
	// announcements routed through it; 0 means none. 04/05 only: Append
	// panics if it is non-zero on 03, and Parse leaves it 0 there.
	ExcludeHop uint64
}

func (m *AnnounceRequest) bodyLen(v Version) int {
	needVersion(v.known(), "ANNOUNCE_REQUEST", v)
	n := stringLen(m.Prefix)
	if v >= Lite04 {
		n += quicvarint.Len(m.ExcludeHop)
	} else if m.ExcludeHop != 0 {
		panicf("ANNOUNCE_REQUEST ExcludeHop does not exist in %s (got %d)", v, m.ExcludeHop)
	}
	return n
}

// Append appends Length | body.
func (m *AnnounceRequest) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = appendString(b, m.Prefix)
	if v >= Lite04 {
		b = quicvarint.Append(b, m.ExcludeHop)
	}
	return b
}

// Len returns len(m.Append(nil, v)).
func (m *AnnounceRequest) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one ANNOUNCE_REQUEST body.
func (m *AnnounceRequest) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("announce request", v)
	}
	p := parser{b: body, msg: "announce request"}
	var out AnnounceRequest
	out.Prefix = p.string("prefix")
	if v >= Lite04 {
		out.ExcludeHop = p.varint("exclude hop")
	}
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// AnnounceOK is the publisher's first message on an Announce stream on 05
// (ANNOUNCE_OK). Body: Origin(i) | ActiveCount(i).
type AnnounceOK struct {
	// Origin is the responder's origin ID, which the receiver appends to each
	// announcement's hop chain; 0 means unknown (accepted by @moq/net 0.3.4).
	Origin uint64
	// ActiveCount is the number of initial active announcements that follow.
	ActiveCount uint64
}

func (m *AnnounceOK) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "ANNOUNCE_OK", v)
	return quicvarint.Len(m.Origin) + quicvarint.Len(m.ActiveCount)
}

// Append appends Length | body. It panics unless v is 05 or later.
func (m *AnnounceOK) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = quicvarint.Append(b, m.Origin)
	return quicvarint.Append(b, m.ActiveCount)
}

// Len returns len(m.Append(nil, v)).
func (m *AnnounceOK) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one ANNOUNCE_OK body. It returns an error wrapping ErrInvalid
// if v is before 05.
func (m *AnnounceOK) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("announce ok", v)
	}
	p := parser{b: body, msg: "announce ok"}
	var out AnnounceOK
	out.Origin = p.varint("origin")
	out.ActiveCount = p.varint("active count")
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Announce statuses carried in [Announce.Status].
const (
	// AnnounceEnded retracts the broadcast at Suffix.
	AnnounceEnded uint8 = 0
	// AnnounceActive advertises the broadcast at Suffix (on 05 a second
	// active for a live path is a restart).
	AnnounceActive uint8 = 1
	// AnnounceRestart is the explicit restart status, accepted on 05 only
	// (treated like AnnounceActive). Neither reference peer sends it.
	AnnounceRestart uint8 = 2
)

// Announce is one announcement on an Announce stream (ANNOUNCE /
// ANNOUNCE_BROADCAST).
//
// Body: Status(u8) | Suffix(s) | Hops, where Hops is Count(i) on 03 and
// Count(i) | HopID(i)×Count on 04 and 05.
type Announce struct {
	// Status is AnnounceEnded, AnnounceActive or (05 only) AnnounceRestart.
	Status uint8
	// Suffix is the broadcast path relative to the request's prefix.
	Suffix string
	// Hops is the hop chain, at most [MaxHops] long (the reference peers
	// always send an AnnounceEnded with no hops). On 03 only its length
	// is on the wire: Append writes len(Hops) and ignores the IDs, and Parse
	// fills Hops with Count zeros. Parse leaves Hops nil when Count is 0 and
	// otherwise returns a fresh slice.
	Hops []uint64
}

func (m *Announce) bodyLen(v Version) int {
	needVersion(v.known(), "ANNOUNCE", v)
	switch m.Status {
	case AnnounceEnded, AnnounceActive:
	case AnnounceRestart:
		if v < Lite05 {
			panicf("ANNOUNCE status restart does not exist in %s", v)
		}
	default:
		panicf("ANNOUNCE status %d is not defined", m.Status)
	}
	if len(m.Hops) > MaxHops {
		panicf("ANNOUNCE has %d hops, limit %d", len(m.Hops), MaxHops)
	}
	n := 1 + stringLen(m.Suffix) + quicvarint.Len(uint64(len(m.Hops)))
	if v >= Lite04 {
		for _, h := range m.Hops {
			n += quicvarint.Len(h)
		}
	}
	return n
}

// Append appends Length | body. It panics on an undefined status for v or
// more than MaxHops hops.
func (m *Announce) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = append(b, m.Status)
	b = appendString(b, m.Suffix)
	b = quicvarint.Append(b, uint64(len(m.Hops)))
	if v >= Lite04 {
		for _, h := range m.Hops {
			b = quicvarint.Append(b, h)
		}
	}
	return b
}

// Len returns len(m.Append(nil, v)).
func (m *Announce) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one ANNOUNCE body. A count above MaxHops yields ErrTooLarge;
// a status other than 0/1 (or 2 on 05) yields ErrInvalid.
func (m *Announce) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("announce", v)
	}
	p := parser{b: body, msg: "announce"}
	var out Announce
	out.Status = p.u8("status")
	if p.err == nil {
		switch {
		case out.Status == AnnounceEnded, out.Status == AnnounceActive:
		case out.Status == AnnounceRestart && v >= Lite05:
		default:
			p.fail("status", ErrInvalid, fmt.Sprintf("status %d in %s", out.Status, v))
		}
	}
	out.Suffix = p.string("suffix")
	count := p.varint("hop count")
	if p.err == nil && count > MaxHops {
		p.fail("hop count", ErrTooLarge, fmt.Sprintf("%d hops, limit %d", count, MaxHops))
	}
	if p.err == nil && count > 0 {
		out.Hops = make([]uint64, count)
		if v >= Lite04 {
			for i := range out.Hops {
				out.Hops[i] = p.varint("hop id")
			}
		}
	}
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}
