package wire

import "github.com/quic-go/quic-go/quicvarint"

// Probe is a publisher's report on a Probe stream ([StreamProbe]): PROBE.
//
// Body: Bitrate(i bps) on 03; Bitrate(i bps) | RTT(i ms) on 04 and 05. A
// value of 0 means unknown (the JS peer sends a measured 0 as 1).
type Probe struct {
	// Bitrate is the estimated send bitrate in bits per second; 0 unknown.
	Bitrate uint64
	// RTTMs is the smoothed round-trip time in milliseconds; 0 unknown.
	// 04/05 only: Append panics if it is non-zero on 03, and Parse leaves it 0
	// there.
	RTTMs uint64
}

func (m *Probe) bodyLen(v Version) int {
	needVersion(v.known(), "PROBE", v)
	n := quicvarint.Len(m.Bitrate)
	if v >= Lite04 {
		n += quicvarint.Len(m.RTTMs)
	} else if m.RTTMs != 0 {
		panicf("PROBE RTT does not exist in %s (got %d)", v, m.RTTMs)
	}
	return n
}

// Append appends Length | body.
func (m *Probe) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = quicvarint.Append(b, m.Bitrate)
	if v >= Lite04 {
		b = quicvarint.Append(b, m.RTTMs)
	}
	return b
}

// Len returns len(m.Append(nil, v)).
func (m *Probe) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one PROBE body.
func (m *Probe) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("probe", v)
	}
	p := parser{b: body, msg: "probe"}
	var out Probe
	out.Bitrate = p.varint("bitrate")
	if v >= Lite04 {
		out.RTTMs = p.varint("rtt")
	}
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Goaway asks the peer to move to another session (GOAWAY, 04 and later), on
// a Goaway stream ([StreamGoaway]).
//
// Body: URI(s).
type Goaway struct {
	// URI is where to reconnect; empty for none.
	URI string
}

func (m *Goaway) bodyLen(v Version) int {
	needVersion(v.since(Lite04), "GOAWAY", v)
	return stringLen(m.URI)
}

// Append appends Length | body. It panics unless v is 04 or later.
func (m *Goaway) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	return appendString(b, m.URI)
}

// Len returns len(m.Append(nil, v)).
func (m *Goaway) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one GOAWAY body. It returns an error wrapping ErrInvalid if v
// is before 04.
func (m *Goaway) Parse(body []byte, v Version) error {
	if !v.since(Lite04) {
		return versionError("goaway", v)
	}
	p := parser{b: body, msg: "goaway"}
	uri := p.string("uri")
	if err := p.finish(); err != nil {
		return err
	}
	m.URI = uri
	return nil
}
