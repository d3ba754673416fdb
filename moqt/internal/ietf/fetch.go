package ietf

import "fmt"

// Fetch Types.
const (
	// FetchStandalone fetches a range of a named track.
	FetchStandalone uint64 = 0x1
	// FetchRelativeJoining joins a subscription, counting groups back from
	// its start.
	FetchRelativeJoining uint64 = 0x2
	// FetchAbsoluteJoining joins a subscription from an absolute group.
	FetchAbsoluteJoining uint64 = 0x3
)

// Fetch is FETCH, the first message on a fetch's bidi request stream.
//
// Payload: RequestID(vi64) | [RequiredRequestIDDelta(vi64), draft 17] |
// FetchType(vi64) | Standalone or Joining | Params, where Standalone is
// Namespace | TrackName | [Start(Location) | End(Location), drafts 17–19]
// and Joining is JoiningRequestID(vi64) | [JoiningStart(vi64), drafts
// 17–19]. On draft 20 the range moved into parameters.
type Fetch struct {
	// RequestID identifies the request.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency delta; written on 17
	// only.
	RequiredRequestIDDelta uint64
	// Type is FetchStandalone, FetchRelativeJoining or FetchAbsoluteJoining.
	Type uint64
	// Namespace is the standalone fetch's Track Namespace.
	Namespace Namespace
	// Track is the standalone fetch's track name.
	Track string
	// Start is the standalone fetch's first Location (drafts 17–19).
	Start Location
	// End is the standalone fetch's End Location (drafts 17–19).
	End Location
	// JoiningRequestID is the joined subscription's Request ID.
	JoiningRequestID uint64
	// JoiningStart is the joining fetch's start (drafts 17–19): groups back
	// for a relative join, the group for an absolute one.
	JoiningStart uint64
	// Params are the Message Parameters.
	Params Params
}

func (m *Fetch) bodyLen(v Version) int {
	needVersion(v.known(), "FETCH", v)
	n := VarintLen(m.RequestID) + VarintLen(m.Type) + m.Params.Len(v)
	if v == Draft17 {
		n += VarintLen(m.RequiredRequestIDDelta)
	}
	ranges := !v.since(Draft20)
	switch m.Type {
	case FetchStandalone:
		n += namespaceLen(m.Namespace) + bytesLen(len(m.Track))
		if ranges {
			n += locationLen(m.Start) + locationLen(m.End)
		}
	case FetchRelativeJoining, FetchAbsoluteJoining:
		n += VarintLen(m.JoiningRequestID)
		if ranges {
			n += VarintLen(m.JoiningStart)
		}
	default:
		panicf("FETCH type %d is not defined", m.Type)
	}
	return n
}

// Len returns the framed size of m.
func (m *Fetch) Len(v Version) int { return ControlHeaderLen(MsgFetch) + m.bodyLen(v) }

// Append appends the framed message. It panics for an undefined Type.
func (m *Fetch) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgFetch, m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	if v == Draft17 {
		b = AppendVarint(b, m.RequiredRequestIDDelta)
	}
	b = AppendVarint(b, m.Type)
	ranges := !v.since(Draft20)
	if m.Type == FetchStandalone {
		b = appendNamespace(b, m.Namespace)
		b = appendBytes(b, m.Track)
		if ranges {
			b = appendLocation(appendLocation(b, m.Start), m.End)
		}
	} else {
		b = AppendVarint(b, m.JoiningRequestID)
		if ranges {
			b = AppendVarint(b, m.JoiningStart)
		}
	}
	return m.Params.Append(b, v)
}

// Parse decodes a FETCH payload. An undefined Fetch Type is ErrInvalid.
func (m *Fetch) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "FETCH"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = Fetch{RequestID: p.varint("request id")}
	if v == Draft17 {
		m.RequiredRequestIDDelta = p.varint("required request id delta")
	}
	m.Type = p.varint("fetch type")
	ranges := !v.since(Draft20)
	switch {
	case p.err != nil:
	case m.Type == FetchStandalone:
		m.Namespace = p.namespace("namespace")
		m.Track = p.trackName("track name", m.Namespace)
		if ranges {
			m.Start = p.location("start")
			m.End = p.location("end")
		}
	case m.Type == FetchRelativeJoining || m.Type == FetchAbsoluteJoining:
		m.JoiningRequestID = p.varint("joining request id")
		if ranges {
			m.JoiningStart = p.varint("joining start")
		}
	default:
		p.fail("fetch type", ErrInvalid, fmt.Sprintf("type %d", m.Type))
	}
	m.Params = p.params("parameters")
	if p.err != nil {
		*m = Fetch{}
	}
	return p.finish()
}

// FetchOK is FETCH_OK, the publisher's reply on a fetch's request stream.
//
// Payload: EndOfTrack(8) | End(Location) | Params | Track Properties
// (Key-Value-Pairs to the end).
type FetchOK struct {
	// EndOfTrack says the fetch reaches the end of the track.
	EndOfTrack bool
	// End is the End Location of the objects that will be delivered.
	End Location
	// Params are the Message Parameters.
	Params Params
	// Properties are the Track Properties.
	Properties KVPs
}

func (m *FetchOK) bodyLen(v Version) int {
	needVersion(v.known(), "FETCH_OK", v)
	return 1 + locationLen(m.End) + m.Params.Len(v) + m.Properties.Len()
}

// Len returns the framed size of m.
func (m *FetchOK) Len(v Version) int { return ControlHeaderLen(MsgFetchOK) + m.bodyLen(v) }

// Append appends the framed message.
func (m *FetchOK) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgFetchOK, m.bodyLen(v))
	b = appendBool(b, m.EndOfTrack)
	b = appendLocation(b, m.End)
	b = m.Params.Append(b, v)
	return m.Properties.Append(b)
}

// Parse decodes a FETCH_OK payload.
func (m *FetchOK) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "FETCH_OK"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = FetchOK{EndOfTrack: p.bool("end of track"), End: p.location("end")}
	m.Params = p.params("parameters")
	m.Properties = p.kvps("track properties")
	return p.finish()
}

// StreamFetch is the unidirectional stream type of a FETCH_HEADER.
const StreamFetch uint64 = 0x05

// FetchHeader is FETCH_HEADER, the start of the unidirectional stream that
// carries a fetch's objects.
//
// Header: Type(vi64)=0x05 | RequestID(vi64).
type FetchHeader struct {
	// RequestID is the FETCH (or, for @moq/net's draft-20 fill, the
	// SUBSCRIBE) request the objects answer.
	RequestID uint64
}

// Len returns the encoded size of the header, type included.
func (h *FetchHeader) Len(v Version) int {
	needVersion(v.known(), "FETCH_HEADER", v)
	return VarintLen(StreamFetch) + VarintLen(h.RequestID)
}

// Append appends the header, type included.
func (h *FetchHeader) Append(b []byte, v Version) []byte {
	needVersion(v.known(), "FETCH_HEADER", v)
	return AppendVarint(AppendVarint(b, StreamFetch), h.RequestID)
}

// Parse decodes a header, type included, from the start of b and returns
// the bytes it occupied. A type other than StreamFetch is ErrInvalid.
func (h *FetchHeader) Parse(b []byte, v Version) (int, error) {
	p := parser{b: b, v: v, msg: "FETCH_HEADER"}
	if !v.known() {
		return 0, versionError(p.msg, v)
	}
	if t := p.varint("type"); p.err == nil && t != StreamFetch {
		p.fail("type", ErrInvalid, fmt.Sprintf("0x%x", t))
	}
	*h = FetchHeader{RequestID: p.varint("request id")}
	if p.err != nil {
		*h = FetchHeader{}
		return 0, p.err
	}
	return len(b) - len(p.b), nil
}

// Fetch object Serialization Flags.
const (
	// FetchSubgroupMask selects the Subgroup ID encoding: 0 zero, 1 the
	// prior object's, 2 the prior plus one, 3 present.
	FetchSubgroupMask uint64 = 0x03
	// FetchObjectID says the Object ID (17) / Object ID Delta (18+) field
	// is present.
	FetchObjectID uint64 = 0x04
	// FetchGroupID says the Group ID (17) / Group ID Delta (18+) field is
	// present.
	FetchGroupID uint64 = 0x08
	// FetchPriority says the Publisher Priority field is present.
	FetchPriority uint64 = 0x10
	// FetchProperties says the Properties field is present.
	FetchProperties uint64 = 0x20
	// FetchDatagram says the object was a datagram: ignore the subgroup
	// bits.
	FetchDatagram uint64 = 0x40
	// FetchEndOfNonExistentRange marks objects up to its Location as not
	// existing.
	FetchEndOfNonExistentRange uint64 = 0x8c
	// FetchEndOfUnknownRange marks objects up to its Location as unknown.
	FetchEndOfUnknownRange uint64 = 0x10c
	// FetchEndOfTimedOutRange (draft 20) marks objects up to its Location
	// as timed out.
	FetchEndOfTimedOutRange uint64 = 0x20c
)

// isFetchFlags reports whether f is a valid Serialization Flags value in v.
func isFetchFlags(f uint64, v Version) bool {
	switch {
	case f < 0x80:
		return true
	case f == FetchEndOfNonExistentRange, f == FetchEndOfUnknownRange:
		return true
	case f == FetchEndOfTimedOutRange:
		return v.since(Draft20)
	}
	return false
}

// FetchObject is one object on a fetch stream, after the header, with its
// fields as they are on the wire. Resolving them against the prior object
// (deltas from draft 18, "same as prior" flags) is the reader's job.
//
// Fields: Flags(vi64) | [Group(vi64)] | [SubgroupID(vi64)] | [Object(vi64)]
// | [Priority(8)] | [Properties(Length | KVPs)] | PayloadLength(vi64) |
// Payload. An End of Range (Flags 0x8C, 0x10C, 0x20C) carries Group and
// Object and a payload length, nothing else.
type FetchObject struct {
	// Flags are the Serialization Flags; they say which fields follow.
	Flags uint64
	// Group is the Group ID (17) or Group ID Delta (18+), when present.
	Group uint64
	// SubgroupID is the Subgroup ID, when Flags&FetchSubgroupMask is 3
	// and the object is not a datagram.
	SubgroupID uint64
	// Object is the Object ID (17) or Object ID Delta (18+), when present.
	Object uint64
	// Priority is the Publisher Priority, when FetchPriority is set.
	Priority uint8
	// Properties is the raw Object Properties block, when FetchProperties
	// is set. Parsed values alias the input.
	Properties []byte
	// Payload is the object's payload. Parsed values alias the input.
	Payload []byte
}

// fields returns which optional fields f selects.
func fetchFields(f uint64) (group, subgroup, object, prio, props bool) {
	if f >= 0x80 {
		return true, false, true, false, false
	}
	return f&FetchGroupID != 0, f&FetchDatagram == 0 && f&FetchSubgroupMask == FetchSubgroupMask,
		f&FetchObjectID != 0, f&FetchPriority != 0, f&FetchProperties != 0
}

// Len returns the encoded size of the object.
func (o *FetchObject) Len(v Version) int {
	needVersion(v.known(), "fetch object", v)
	if !isFetchFlags(o.Flags, v) {
		panicf("fetch object flags 0x%x are not defined in %s", o.Flags, v)
	}
	group, subgroup, object, prio, props := fetchFields(o.Flags)
	n := VarintLen(o.Flags) + VarintLen(uint64(len(o.Payload))) + len(o.Payload)
	if group {
		n += VarintLen(o.Group)
	}
	if subgroup {
		n += VarintLen(o.SubgroupID)
	}
	if object {
		n += VarintLen(o.Object)
	}
	if prio {
		n++
	}
	if props {
		if len(o.Properties) > MaxObjectProperties {
			panicf("object properties of %d bytes, limit %d", len(o.Properties), MaxObjectProperties)
		}
		n += bytesLen(len(o.Properties))
	}
	return n
}

// Append appends the object. Fields its Flags do not select are not
// written. It panics for flags undefined in v.
func (o *FetchObject) Append(b []byte, v Version) []byte {
	o.Len(v)
	group, subgroup, object, prio, props := fetchFields(o.Flags)
	b = AppendVarint(b, o.Flags)
	if group {
		b = AppendVarint(b, o.Group)
	}
	if subgroup {
		b = AppendVarint(b, o.SubgroupID)
	}
	if object {
		b = AppendVarint(b, o.Object)
	}
	if prio {
		b = append(b, o.Priority)
	}
	if props {
		b = appendBytes(b, o.Properties)
	}
	b = AppendVarint(b, uint64(len(o.Payload)))
	return append(b, o.Payload...)
}

// Parse decodes one object from the start of b and returns the bytes it
// occupied. Undefined flags are ErrInvalid; the payload aliases b and is not
// limited here.
func (o *FetchObject) Parse(b []byte, v Version) (int, error) {
	p := parser{b: b, v: v, msg: "fetch object"}
	if !v.known() {
		return 0, versionError(p.msg, v)
	}
	*o = FetchObject{Flags: p.varint("flags")}
	if p.err == nil && !isFetchFlags(o.Flags, v) {
		p.fail("flags", ErrInvalid, fmt.Sprintf("0x%x", o.Flags))
	}
	group, subgroup, object, prio, props := fetchFields(o.Flags)
	if group {
		o.Group = p.varint("group")
	}
	if subgroup {
		o.SubgroupID = p.varint("subgroup id")
	}
	if object {
		o.Object = p.varint("object")
	}
	if prio {
		o.Priority = p.u8("priority")
	}
	if props {
		o.Properties = p.bytes("properties", MaxObjectProperties)
	}
	if n := p.varint("payload length"); n > 0 {
		o.Payload = p.raw("payload", n)
	}
	if p.err != nil {
		*o = FetchObject{}
		return 0, p.err
	}
	return len(b) - len(p.b), nil
}
