package wire

import "github.com/quic-go/quic-go/quicvarint"

// Subscribe is the subscriber's first message on a Subscribe stream
// ([StreamSubscribe]), identical on 03, 04 and 05.
//
// Body: ID(i) | Broadcast(s) | Track(s) | Priority(u8) | Ordered(u8) |
// MaxLatency(i ms) | Start(i) | End(i), where Start and End are 0 for none
// and otherwise the group sequence plus one.
type Subscribe struct {
	// ID is chosen by the subscriber and never reused in a session. Group
	// headers of this subscription carry it.
	ID uint64
	// Broadcast is the broadcast path, relative to the connection's root.
	Broadcast string
	// Track is the track name within the broadcast.
	Track string
	// Priority is the subscriber's priority for this track.
	Priority uint8
	// Ordered asks for groups in sequence order.
	Ordered bool
	// MaxLatencyMs is the subscriber's maximum latency in milliseconds; 0
	// means unlimited.
	MaxLatencyMs uint64
	// StartGroup is the first requested group; meaningful when HasStart.
	StartGroup uint64
	// HasStart reports whether a start group is requested.
	HasStart bool
	// EndGroup is the last requested group; meaningful when HasEnd.
	EndGroup uint64
	// HasEnd reports whether an end group is requested.
	HasEnd bool
}

// subParams is the Priority | Ordered | MaxLatency | Start | End tail shared
// by SUBSCRIBE, SUBSCRIBE_UPDATE and SUBSCRIBE_OK.
type subParams struct {
	priority   uint8
	ordered    bool
	maxLatency uint64
	start      uint64
	hasStart   bool
	end        uint64
	hasEnd     bool
}

func (s subParams) len() int {
	return 2 + quicvarint.Len(s.maxLatency) +
		quicvarint.Len(optGroup(s.start, s.hasStart)) +
		quicvarint.Len(optGroup(s.end, s.hasEnd))
}

func (s subParams) append(b []byte) []byte {
	b = append(b, s.priority)
	b = appendBool(b, s.ordered)
	b = quicvarint.Append(b, s.maxLatency)
	b = quicvarint.Append(b, optGroup(s.start, s.hasStart))
	return quicvarint.Append(b, optGroup(s.end, s.hasEnd))
}

func (p *parser) subParams() (s subParams) {
	s.priority = p.u8("priority")
	s.ordered = p.bool("ordered")
	s.maxLatency = p.varint("max latency")
	s.start, s.hasStart = p.optGroup("start group")
	s.end, s.hasEnd = p.optGroup("end group")
	return s
}

func (m *Subscribe) params() subParams {
	return subParams{m.Priority, m.Ordered, m.MaxLatencyMs, m.StartGroup, m.HasStart, m.EndGroup, m.HasEnd}
}

func (m *Subscribe) bodyLen(v Version) int {
	needVersion(v.known(), "SUBSCRIBE", v)
	return quicvarint.Len(m.ID) + stringLen(m.Broadcast) + stringLen(m.Track) + m.params().len()
}

// Append appends Length | body.
func (m *Subscribe) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Broadcast)
	b = appendString(b, m.Track)
	return m.params().append(b)
}

// Len returns len(m.Append(nil, v)).
func (m *Subscribe) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one SUBSCRIBE body.
func (m *Subscribe) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("subscribe", v)
	}
	p := parser{b: body, msg: "subscribe"}
	var out Subscribe
	out.ID = p.varint("id")
	out.Broadcast = p.string("broadcast")
	out.Track = p.string("track")
	s := p.subParams()
	if err := p.finish(); err != nil {
		return err
	}
	out.Priority, out.Ordered, out.MaxLatencyMs = s.priority, s.ordered, s.maxLatency
	out.StartGroup, out.HasStart, out.EndGroup, out.HasEnd = s.start, s.hasStart, s.end, s.hasEnd
	*m = out
	return nil
}

// SubscribeUpdate changes a subscription (SUBSCRIBE_UPDATE, subscriber to
// publisher, untyped and length-prefixed), identical on 03, 04 and 05.
//
// Body: Priority(u8) | Ordered(u8) | MaxLatency(i ms) | Start(i) | End(i),
// with Start and End encoded as in [Subscribe].
type SubscribeUpdate struct {
	// Priority is the new subscriber priority.
	Priority uint8
	// Ordered asks for groups in sequence order.
	Ordered bool
	// MaxLatencyMs is the maximum latency in milliseconds; 0 means unlimited.
	MaxLatencyMs uint64
	// StartGroup is the first requested group; meaningful when HasStart.
	StartGroup uint64
	// HasStart reports whether a start group is requested.
	HasStart bool
	// EndGroup is the last requested group; meaningful when HasEnd.
	EndGroup uint64
	// HasEnd reports whether an end group is requested.
	HasEnd bool
}

func (m *SubscribeUpdate) params() subParams {
	return subParams{m.Priority, m.Ordered, m.MaxLatencyMs, m.StartGroup, m.HasStart, m.EndGroup, m.HasEnd}
}

func (m *SubscribeUpdate) bodyLen(v Version) int {
	needVersion(v.known(), "SUBSCRIBE_UPDATE", v)
	return m.params().len()
}

// Append appends Length | body.
func (m *SubscribeUpdate) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	return m.params().append(b)
}

// Len returns len(m.Append(nil, v)).
func (m *SubscribeUpdate) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one SUBSCRIBE_UPDATE body.
func (m *SubscribeUpdate) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("subscribe update", v)
	}
	p := parser{b: body, msg: "subscribe update"}
	s := p.subParams()
	if err := p.finish(); err != nil {
		return err
	}
	*m = SubscribeUpdate{s.priority, s.ordered, s.maxLatency, s.start, s.hasStart, s.end, s.hasEnd}
	return nil
}

// Subscribe response types on 03 and 04 (Type(i) | Length(i) | body).
const (
	// RespSubscribeOK is SUBSCRIBE_OK (03/04).
	RespSubscribeOK uint64 = 0
	// RespSubscribeDropV3 is SUBSCRIBE_DROP on 03/04.
	RespSubscribeDropV3 uint64 = 1
)

// Subscribe response types on 05 (Type(i) | Length(i) | body).
const (
	// RespSubscribeStart is SUBSCRIBE_START (05).
	RespSubscribeStart uint64 = 0
	// RespSubscribeEnd is SUBSCRIBE_END (05).
	RespSubscribeEnd uint64 = 1
	// RespSubscribeDrop is SUBSCRIBE_DROP on 05.
	RespSubscribeDrop uint64 = 2
)

// appendTyped appends Type | Length for a body of n bytes.
func appendTyped(b []byte, typ uint64, n int) []byte {
	b = quicvarint.Append(b, typ)
	return quicvarint.Append(b, uint64(n))
}

// typedLen is the size of Type | Length | body.
func typedLen(typ uint64, n int) int {
	return quicvarint.Len(typ) + frameLen(n)
}

// SubscribeOK is the publisher's acceptance of a subscription on 03 and 04
// (typed response [RespSubscribeOK]). It does not exist on 05.
//
// Body: Priority(u8) | Ordered(u8) | MaxLatency(i ms) | Start(i) | End(i),
// with Start and End encoded as in [Subscribe].
type SubscribeOK struct {
	// Priority is the publisher's priority for the track.
	Priority uint8
	// Ordered reports whether groups are delivered in sequence order.
	Ordered bool
	// MaxLatencyMs is the publisher's maximum latency in milliseconds.
	MaxLatencyMs uint64
	// StartGroup is the resolved first group; meaningful when HasStart.
	StartGroup uint64
	// HasStart reports whether a start group is known.
	HasStart bool
	// EndGroup is the resolved last group; meaningful when HasEnd.
	EndGroup uint64
	// HasEnd reports whether an end group is known.
	HasEnd bool
}

func (m *SubscribeOK) params() subParams {
	return subParams{m.Priority, m.Ordered, m.MaxLatencyMs, m.StartGroup, m.HasStart, m.EndGroup, m.HasEnd}
}

func (m *SubscribeOK) bodyLen(v Version) int {
	needVersion(v == Lite03 || v == Lite04, "SUBSCRIBE_OK", v)
	return m.params().len()
}

// Type returns the response type, [RespSubscribeOK]. It panics unless v is 03
// or 04.
func (m *SubscribeOK) Type(v Version) uint64 {
	needVersion(v == Lite03 || v == Lite04, "SUBSCRIBE_OK", v)
	return RespSubscribeOK
}

// Append appends Type | Length | body. It panics unless v is 03 or 04.
func (m *SubscribeOK) Append(b []byte, v Version) []byte {
	b = appendTyped(b, RespSubscribeOK, m.bodyLen(v))
	return m.params().append(b)
}

// Len returns len(m.Append(nil, v)).
func (m *SubscribeOK) Len(v Version) int { return typedLen(RespSubscribeOK, m.bodyLen(v)) }

// Parse decodes one SUBSCRIBE_OK body. It returns an error wrapping
// ErrInvalid unless v is 03 or 04.
func (m *SubscribeOK) Parse(body []byte, v Version) error {
	if v != Lite03 && v != Lite04 {
		return versionError("subscribe ok", v)
	}
	p := parser{b: body, msg: "subscribe ok"}
	s := p.subParams()
	if err := p.finish(); err != nil {
		return err
	}
	*m = SubscribeOK{s.priority, s.ordered, s.maxLatency, s.start, s.hasStart, s.end, s.hasEnd}
	return nil
}

// SubscribeDrop reports groups the publisher will not deliver
// (SUBSCRIBE_DROP), on every version: typed response [RespSubscribeDropV3]
// on 03/04 and [RespSubscribeDrop] on 05.
//
// Body: Start(i) | End(i) | ErrorCode(i).
type SubscribeDrop struct {
	// Start is the first dropped group.
	Start uint64
	// End is the last dropped group (inclusive).
	End uint64
	// ErrorCode says why the groups were dropped.
	ErrorCode uint64
}

func (m *SubscribeDrop) bodyLen(v Version) int {
	needVersion(v.known(), "SUBSCRIBE_DROP", v)
	return quicvarint.Len(m.Start) + quicvarint.Len(m.End) + quicvarint.Len(m.ErrorCode)
}

// Type returns the response type for v: [RespSubscribeDropV3] (1) on 03/04,
// [RespSubscribeDrop] (2) on 05. It panics on an unknown version.
func (m *SubscribeDrop) Type(v Version) uint64 {
	needVersion(v.known(), "SUBSCRIBE_DROP", v)
	if v >= Lite05 {
		return RespSubscribeDrop
	}
	return RespSubscribeDropV3
}

// Append appends Type | Length | body, with the type for v.
func (m *SubscribeDrop) Append(b []byte, v Version) []byte {
	b = appendTyped(b, m.Type(v), m.bodyLen(v))
	b = quicvarint.Append(b, m.Start)
	b = quicvarint.Append(b, m.End)
	return quicvarint.Append(b, m.ErrorCode)
}

// Len returns len(m.Append(nil, v)).
func (m *SubscribeDrop) Len(v Version) int { return typedLen(m.Type(v), m.bodyLen(v)) }

// Parse decodes one SUBSCRIBE_DROP body.
func (m *SubscribeDrop) Parse(body []byte, v Version) error {
	if !v.known() {
		return versionError("subscribe drop", v)
	}
	p := parser{b: body, msg: "subscribe drop"}
	var out SubscribeDrop
	out.Start = p.varint("start")
	out.End = p.varint("end")
	out.ErrorCode = p.varint("error code")
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// SubscribeStart resolves the first group of a subscription on 05 (typed
// response [RespSubscribeStart]). Body: Group(i), a plain absolute sequence.
type SubscribeStart struct {
	// Group is the first group the publisher serves.
	Group uint64
}

func (m *SubscribeStart) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "SUBSCRIBE_START", v)
	return quicvarint.Len(m.Group)
}

// Type returns [RespSubscribeStart]. It panics unless v is 05 or later.
func (m *SubscribeStart) Type(v Version) uint64 {
	needVersion(v.since(Lite05), "SUBSCRIBE_START", v)
	return RespSubscribeStart
}

// Append appends Type | Length | body. It panics unless v is 05 or later.
func (m *SubscribeStart) Append(b []byte, v Version) []byte {
	b = appendTyped(b, RespSubscribeStart, m.bodyLen(v))
	return quicvarint.Append(b, m.Group)
}

// Len returns len(m.Append(nil, v)).
func (m *SubscribeStart) Len(v Version) int { return typedLen(RespSubscribeStart, m.bodyLen(v)) }

// Parse decodes one SUBSCRIBE_START body. It returns an error wrapping
// ErrInvalid if v is before 05.
func (m *SubscribeStart) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("subscribe start", v)
	}
	p := parser{b: body, msg: "subscribe start"}
	g := p.varint("group")
	if err := p.finish(); err != nil {
		return err
	}
	m.Group = g
	return nil
}

// SubscribeEnd bounds a subscription on 05 (typed response
// [RespSubscribeEnd]). Body: Group(i), an exclusive bound: the first sequence
// that will never be produced (0 means no groups at all).
type SubscribeEnd struct {
	// Group is the exclusive end of the subscription.
	Group uint64
}

func (m *SubscribeEnd) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "SUBSCRIBE_END", v)
	return quicvarint.Len(m.Group)
}

// Type returns [RespSubscribeEnd]. It panics unless v is 05 or later.
func (m *SubscribeEnd) Type(v Version) uint64 {
	needVersion(v.since(Lite05), "SUBSCRIBE_END", v)
	return RespSubscribeEnd
}

// Append appends Type | Length | body. It panics unless v is 05 or later.
func (m *SubscribeEnd) Append(b []byte, v Version) []byte {
	b = appendTyped(b, RespSubscribeEnd, m.bodyLen(v))
	return quicvarint.Append(b, m.Group)
}

// Len returns len(m.Append(nil, v)).
func (m *SubscribeEnd) Len(v Version) int { return typedLen(RespSubscribeEnd, m.bodyLen(v)) }

// Parse decodes one SUBSCRIBE_END body. It returns an error wrapping
// ErrInvalid if v is before 05.
func (m *SubscribeEnd) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("subscribe end", v)
	}
	p := parser{b: body, msg: "subscribe end"}
	g := p.varint("group")
	if err := p.finish(); err != nil {
		return err
	}
	m.Group = g
	return nil
}
