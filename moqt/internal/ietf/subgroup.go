package ietf

import "fmt"

// Subgroup header Type bits. A SUBGROUP_HEADER type has the form 0b0XX1XXXX:
// bit 4 (0x10) is always set.
const (
	subgroupBase        = 0x10
	subgroupProperties  = 0x01
	subgroupModeMask    = 0x06
	subgroupEndOfGroup  = 0x08
	subgroupDefaultPrio = 0x20
	subgroupFirstObject = 0x40
)

// SubgroupIDMode is how a subgroup header gives the Subgroup ID (bits 1-2
// of its type).
type SubgroupIDMode uint8

const (
	// SubgroupZero means the Subgroup ID is absent and 0.
	SubgroupZero SubgroupIDMode = 0
	// SubgroupFirstObjectID means the Subgroup ID is absent and equals the
	// Object ID of the first object on the stream.
	SubgroupFirstObjectID SubgroupIDMode = 1
	// SubgroupExplicit means the header carries the Subgroup ID.
	SubgroupExplicit SubgroupIDMode = 2
)

// IsSubgroupType reports whether t, the first varint of a unidirectional
// stream, is a valid SUBGROUP_HEADER type in v: bit 4 set, Subgroup ID mode
// not 0b11, and no bits but the defined ones (FIRST_OBJECT, 0x40, is defined
// from draft 18).
func IsSubgroupType(t uint64, v Version) bool {
	allowed := uint64(subgroupBase | subgroupProperties | subgroupModeMask | subgroupEndOfGroup | subgroupDefaultPrio)
	if v.since(Draft18) {
		allowed |= subgroupFirstObject
	}
	return v.known() && t&subgroupBase != 0 && t&^allowed == 0 && t&subgroupModeMask != subgroupModeMask
}

// SubgroupHeader is SUBGROUP_HEADER, the start of a unidirectional stream
// carrying the objects of one subgroup.
//
// Header: Type(vi64) | TrackAlias(vi64) | GroupID(vi64) |
// [SubgroupID(vi64)] | [PublisherPriority(8)].
type SubgroupHeader struct {
	// Properties says every object on the stream has a Properties field.
	Properties bool
	// Mode says how the Subgroup ID is given.
	Mode SubgroupIDMode
	// EndOfGroup says the subgroup holds the largest object of the group.
	EndOfGroup bool
	// DefaultPriority says the Priority field is absent and the
	// subscription's publisher priority applies.
	DefaultPriority bool
	// FirstObject (draft 18+) says the stream starts at the subgroup's
	// first object. @moq/net drops streams without it on 18+.
	FirstObject bool
	// TrackAlias identifies the subscription (SUBSCRIBE_OK, PUBLISH).
	TrackAlias uint64
	// GroupID is the group.
	GroupID uint64
	// SubgroupID is the subgroup when Mode is SubgroupExplicit; otherwise
	// it is not on the wire (and Parse sets it to 0).
	SubgroupID uint64
	// Priority is the publisher priority unless DefaultPriority.
	Priority uint8
}

// Type returns the header's stream type for v. It panics if Mode is not
// one of the three defined modes or FirstObject is set on draft 17.
func (h *SubgroupHeader) Type(v Version) uint64 {
	if h.Mode > SubgroupExplicit {
		panicf("subgroup ID mode %d is reserved", h.Mode)
	}
	t := uint64(subgroupBase) | uint64(h.Mode)<<1
	if h.Properties {
		t |= subgroupProperties
	}
	if h.EndOfGroup {
		t |= subgroupEndOfGroup
	}
	if h.DefaultPriority {
		t |= subgroupDefaultPrio
	}
	if h.FirstObject {
		if !v.since(Draft18) {
			panicf("subgroup FIRST_OBJECT bit does not exist in %s", v)
		}
		t |= subgroupFirstObject
	}
	return t
}

// Len returns the encoded size of the header.
func (h *SubgroupHeader) Len(v Version) int {
	needVersion(v.known(), "SUBGROUP_HEADER", v)
	n := VarintLen(h.Type(v)) + VarintLen(h.TrackAlias) + VarintLen(h.GroupID)
	if h.Mode == SubgroupExplicit {
		n += VarintLen(h.SubgroupID)
	}
	if !h.DefaultPriority {
		n++
	}
	return n
}

// Append appends the header, type included.
func (h *SubgroupHeader) Append(b []byte, v Version) []byte {
	needVersion(v.known(), "SUBGROUP_HEADER", v)
	b = AppendVarint(b, h.Type(v))
	b = AppendVarint(b, h.TrackAlias)
	b = AppendVarint(b, h.GroupID)
	if h.Mode == SubgroupExplicit {
		b = AppendVarint(b, h.SubgroupID)
	}
	if !h.DefaultPriority {
		b = append(b, h.Priority)
	}
	return b
}

// Parse decodes a header, type included, from the start of b and returns
// the bytes it occupied; the stream's objects follow. A type that is not
// [IsSubgroupType] in v is ErrInvalid.
func (h *SubgroupHeader) Parse(b []byte, v Version) (int, error) {
	p := parser{b: b, v: v, msg: "SUBGROUP_HEADER"}
	if !v.known() {
		return 0, versionError(p.msg, v)
	}
	t := p.varint("type")
	if p.err == nil && !IsSubgroupType(t, v) {
		p.fail("type", ErrInvalid, fmt.Sprintf("0x%x is not a subgroup header type in %s", t, v))
	}
	*h = SubgroupHeader{
		Properties:      t&subgroupProperties != 0,
		Mode:            SubgroupIDMode(t & subgroupModeMask >> 1),
		EndOfGroup:      t&subgroupEndOfGroup != 0,
		DefaultPriority: t&subgroupDefaultPrio != 0,
		FirstObject:     t&subgroupFirstObject != 0,
		TrackAlias:      p.varint("track alias"),
		GroupID:         p.varint("group id"),
	}
	if h.Mode == SubgroupExplicit {
		h.SubgroupID = p.varint("subgroup id")
	}
	if !h.DefaultPriority {
		h.Priority = p.u8("priority")
	}
	if p.err != nil {
		*h = SubgroupHeader{}
		return 0, p.err
	}
	return len(b) - len(p.b), nil
}

// Object Status values, sent when an object's payload is empty.
const (
	// StatusNormal is a normal (here: empty) object.
	StatusNormal uint64 = 0x0
	// StatusEndOfGroup says no objects follow in the group.
	StatusEndOfGroup uint64 = 0x3
	// StatusEndOfTrack says no objects follow in the track.
	StatusEndOfTrack uint64 = 0x4
)

// MaxObjectProperties is the longest Object Properties block, in bytes,
// this package accepts.
const MaxObjectProperties = 1<<16 - 1

// SubgroupObject is one object on a subgroup stream, after the header.
//
// Fields: ObjectIDDelta(vi64) | [Properties(Length | KVPs), when the header
// says so] | PayloadLength(vi64) | [Status(vi64), when the length is 0] |
// Payload.
type SubgroupObject struct {
	// IDDelta is the Object ID of the stream's first object, and for later
	// objects the gap minus one to the previous Object ID (0 for
	// consecutive objects).
	IDDelta uint64
	// Properties is the raw Object Properties block (Key-Value-Pairs, read
	// them with [ParseKVPs]); present only when the header has Properties.
	// Parsed values alias the input.
	Properties []byte
	// Status is the Object Status of an object with an empty payload;
	// it must be StatusNormal when Payload is not empty.
	Status uint64
	// Payload is the object's payload. Parsed values alias the input.
	Payload []byte
}

func (o *SubgroupObject) check(hasProps bool) {
	if len(o.Properties) > 0 && !hasProps {
		panicf("object has properties but its subgroup header says none")
	}
	if len(o.Properties) > MaxObjectProperties {
		panicf("object properties of %d bytes, limit %d", len(o.Properties), MaxObjectProperties)
	}
	if len(o.Payload) > 0 && o.Status != StatusNormal {
		panicf("object status %d with a payload", o.Status)
	}
}

// Len returns the encoded size of the object on a stream whose header's
// Properties flag is hasProps.
func (o *SubgroupObject) Len(hasProps bool, v Version) int {
	needVersion(v.known(), "subgroup object", v)
	o.check(hasProps)
	n := VarintLen(o.IDDelta) + VarintLen(uint64(len(o.Payload))) + len(o.Payload)
	if hasProps {
		n += bytesLen(len(o.Properties))
	}
	if len(o.Payload) == 0 {
		n += VarintLen(o.Status)
	}
	return n
}

// Append appends the object.
func (o *SubgroupObject) Append(b []byte, hasProps bool, v Version) []byte {
	needVersion(v.known(), "subgroup object", v)
	o.check(hasProps)
	b = AppendVarint(b, o.IDDelta)
	if hasProps {
		b = appendBytes(b, o.Properties)
	}
	b = AppendVarint(b, uint64(len(o.Payload)))
	if len(o.Payload) == 0 {
		return AppendVarint(b, o.Status)
	}
	return append(b, o.Payload...)
}

// Parse decodes one object from the start of b and returns the bytes it
// occupied. Properties on an object whose status is not Normal are
// ErrInvalid, as the drafts require; a Properties block over
// MaxObjectProperties is ErrTooLarge. The payload is not limited here: it
// aliases b, so a stream reader bounds it before buffering.
func (o *SubgroupObject) Parse(b []byte, hasProps bool, v Version) (int, error) {
	p := parser{b: b, v: v, msg: "subgroup object"}
	if !v.known() {
		return 0, versionError(p.msg, v)
	}
	*o = SubgroupObject{IDDelta: p.varint("object id delta")}
	if hasProps {
		o.Properties = p.bytes("properties", MaxObjectProperties)
	}
	n := p.varint("payload length")
	if n == 0 {
		o.Status = p.varint("status")
		if p.err == nil && o.Status != StatusNormal && len(o.Properties) > 0 {
			p.fail("properties", ErrInvalid, fmt.Sprintf("properties on an object with status %d", o.Status))
		}
	} else {
		o.Payload = p.raw("payload", n)
	}
	if p.err != nil {
		*o = SubgroupObject{}
		return 0, p.err
	}
	return len(b) - len(p.b), nil
}

// Padding types (draft 18+): a unidirectional stream or a datagram of this
// type carries only padding and is discarded by the receiver.
const (
	// StreamPadding is the PADDING stream type.
	StreamPadding uint64 = 0x132b3e28
	// DatagramPadding is the PADDING datagram type.
	DatagramPadding uint64 = 0x132b3e29
)
