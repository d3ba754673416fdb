package wire

import "github.com/quic-go/quic-go/quicvarint"

// Track is the subscriber's only message on a Track stream ([StreamTrack],
// 05 only): TRACK, asking for a track's immutable properties.
//
// Body: Broadcast(s) | Track(s).
type Track struct {
	// Broadcast is the broadcast path, relative to the connection's root.
	Broadcast string
	// Track is the track name within the broadcast.
	Track string
}

func (m *Track) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "TRACK", v)
	return stringLen(m.Broadcast) + stringLen(m.Track)
}

// Append appends Length | body. It panics unless v is 05 or later.
func (m *Track) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = appendString(b, m.Broadcast)
	return appendString(b, m.Track)
}

// Len returns len(m.Append(nil, v)).
func (m *Track) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one TRACK body. It returns an error wrapping ErrInvalid if v
// is before 05.
func (m *Track) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("track", v)
	}
	p := parser{b: body, msg: "track"}
	var out Track
	out.Broadcast = p.string("broadcast")
	out.Track = p.string("track")
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// TrackInfo is the publisher's reply on a Track stream (TRACK_INFO, 05
// only), followed by FIN.
//
// Body: Priority(u8) | Ordered(u8) | MaxLatency(i ms) | Timescale(i).
type TrackInfo struct {
	// Priority is the publisher's tie-break priority for the track.
	Priority uint8
	// Ordered reports whether groups are prioritized in sequence order.
	Ordered bool
	// MaxLatencyMs is how long, in milliseconds, the publisher keeps a
	// non-latest group after a newer one arrives.
	MaxLatencyMs uint64
	// Timescale is the frame timestamp unit, in units per second. It must
	// not be 0: Append panics and Parse returns ErrInvalid on 0.
	Timescale uint64
}

func (m *TrackInfo) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "TRACK_INFO", v)
	if m.Timescale == 0 {
		panicf("TRACK_INFO timescale must be non-zero")
	}
	return 2 + quicvarint.Len(m.MaxLatencyMs) + quicvarint.Len(m.Timescale)
}

// Append appends Length | body. It panics unless v is 05 or later, or if
// Timescale is 0.
func (m *TrackInfo) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = append(b, m.Priority)
	b = appendBool(b, m.Ordered)
	b = quicvarint.Append(b, m.MaxLatencyMs)
	return quicvarint.Append(b, m.Timescale)
}

// Len returns len(m.Append(nil, v)).
func (m *TrackInfo) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one TRACK_INFO body. It returns an error wrapping ErrInvalid
// if v is before 05 or the timescale is 0.
func (m *TrackInfo) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("track info", v)
	}
	p := parser{b: body, msg: "track info"}
	var out TrackInfo
	out.Priority = p.u8("priority")
	out.Ordered = p.bool("ordered")
	out.MaxLatencyMs = p.varint("max latency")
	out.Timescale = p.varint("timescale")
	if p.err == nil && out.Timescale == 0 {
		p.fail("timescale", ErrInvalid, "zero")
	}
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Fetch is the subscriber's only message on a Fetch stream ([StreamFetch]):
// FETCH, asking for one whole group. The reply is a bare sequence of frames
// (each a 05 frame header plus payload), then FIN. Peers serve it on 05 only,
// so this package defines it on 05 only (the JS 0.3.4 encoder also writes
// the same layout on 03/04).
//
// Body: Broadcast(s) | Track(s) | Priority(u8) | Group(i), where Group is a
// plain sequence number (no +1).
type Fetch struct {
	// Broadcast is the broadcast path, relative to the connection's root.
	Broadcast string
	// Track is the track name within the broadcast.
	Track string
	// Priority is the subscriber's priority for the fetch.
	Priority uint8
	// Group is the sequence number of the requested group.
	Group uint64
}

func (m *Fetch) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "FETCH", v)
	return stringLen(m.Broadcast) + stringLen(m.Track) + 1 + quicvarint.Len(m.Group)
}

// Append appends Length | body. It panics unless v is 05 or later.
func (m *Fetch) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = appendString(b, m.Broadcast)
	b = appendString(b, m.Track)
	b = append(b, m.Priority)
	return quicvarint.Append(b, m.Group)
}

// Len returns len(m.Append(nil, v)).
func (m *Fetch) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one FETCH body. It returns an error wrapping ErrInvalid if v
// is before 05.
func (m *Fetch) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("fetch", v)
	}
	p := parser{b: body, msg: "fetch"}
	var out Fetch
	out.Broadcast = p.string("broadcast")
	out.Track = p.string("track")
	out.Priority = p.u8("priority")
	out.Group = p.varint("group")
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}
