package ietf

import "fmt"

// OBJECT_DATAGRAM Type bits (the same on drafts 17–20).
const (
	datagramProperties  = 0x01
	datagramEndOfGroup  = 0x02
	datagramZeroObject  = 0x04
	datagramDefaultPrio = 0x08
	datagramStatus      = 0x20
)

// IsDatagramType reports whether t is a valid OBJECT_DATAGRAM type: the form
// 0b00X0XXXX, and not STATUS with END_OF_GROUP.
func IsDatagramType(t uint64) bool {
	const allowed = datagramProperties | datagramEndOfGroup | datagramZeroObject | datagramDefaultPrio | datagramStatus
	return t&^allowed == 0 && t&(datagramStatus|datagramEndOfGroup) != datagramStatus|datagramEndOfGroup
}

// Datagram is OBJECT_DATAGRAM, one object in one QUIC / WebTransport
// datagram.
//
// Layout: Type(vi64) | TrackAlias(vi64) | GroupID(vi64) | [ObjectID(vi64)]
// | [Priority(8)] | [Properties(Length | KVPs)] | [Status(vi64)] |
// [Payload: the rest of the datagram].
type Datagram struct {
	// EndOfGroup says no object with a larger Object ID exists in the group.
	EndOfGroup bool
	// DefaultPriority says the Priority field is absent.
	DefaultPriority bool
	// HasStatus says the datagram carries an Object Status instead of a
	// payload.
	HasStatus bool
	// TrackAlias identifies the subscription.
	TrackAlias uint64
	// GroupID is the group.
	GroupID uint64
	// ObjectID is the object; 0 is sent by omitting the field.
	ObjectID uint64
	// Priority is the publisher priority unless DefaultPriority.
	Priority uint8
	// Properties is the raw Object Properties block; empty means the field
	// is absent (the drafts forbid a present but empty one). Parsed values
	// alias the input.
	Properties []byte
	// Status is the Object Status when HasStatus.
	Status uint64
	// Payload is the object payload when !HasStatus. Parsed values alias
	// the input.
	Payload []byte
}

// Type returns the datagram's type. It panics for a combination the drafts
// forbid (HasStatus with EndOfGroup).
func (d *Datagram) Type() uint64 {
	var t uint64
	if len(d.Properties) > 0 {
		t |= datagramProperties
	}
	if d.EndOfGroup {
		t |= datagramEndOfGroup
	}
	if d.ObjectID == 0 {
		t |= datagramZeroObject
	}
	if d.DefaultPriority {
		t |= datagramDefaultPrio
	}
	if d.HasStatus {
		if d.EndOfGroup {
			panicf("datagram with a status cannot signal end of group")
		}
		t |= datagramStatus
	}
	return t
}

// Len returns the encoded size of the datagram.
func (d *Datagram) Len(v Version) int {
	needVersion(v.known(), "OBJECT_DATAGRAM", v)
	n := VarintLen(d.Type()) + VarintLen(d.TrackAlias) + VarintLen(d.GroupID)
	if d.ObjectID != 0 {
		n += VarintLen(d.ObjectID)
	}
	if !d.DefaultPriority {
		n++
	}
	if len(d.Properties) > 0 {
		if len(d.Properties) > MaxObjectProperties {
			panicf("object properties of %d bytes, limit %d", len(d.Properties), MaxObjectProperties)
		}
		n += bytesLen(len(d.Properties))
	}
	if d.HasStatus {
		if len(d.Payload) > 0 {
			panicf("datagram with both a status and a payload")
		}
		return n + VarintLen(d.Status)
	}
	return n + len(d.Payload)
}

// Append appends the datagram.
func (d *Datagram) Append(b []byte, v Version) []byte {
	d.Len(v)
	b = AppendVarint(b, d.Type())
	b = AppendVarint(b, d.TrackAlias)
	b = AppendVarint(b, d.GroupID)
	if d.ObjectID != 0 {
		b = AppendVarint(b, d.ObjectID)
	}
	if !d.DefaultPriority {
		b = append(b, d.Priority)
	}
	if len(d.Properties) > 0 {
		b = appendBytes(b, d.Properties)
	}
	if d.HasStatus {
		return AppendVarint(b, d.Status)
	}
	return append(b, d.Payload...)
}

// Parse decodes a whole datagram. An invalid type, a present but empty
// Properties field, or Properties with a status other than Normal is
// ErrInvalid; trailing bytes after a status are ErrTrailing.
func (d *Datagram) Parse(b []byte, v Version) error {
	p := parser{b: b, v: v, msg: "OBJECT_DATAGRAM"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	t := p.varint("type")
	if p.err == nil && !IsDatagramType(t) {
		p.fail("type", ErrInvalid, fmt.Sprintf("0x%x", t))
	}
	*d = Datagram{
		EndOfGroup:      t&datagramEndOfGroup != 0,
		DefaultPriority: t&datagramDefaultPrio != 0,
		HasStatus:       t&datagramStatus != 0,
		TrackAlias:      p.varint("track alias"),
		GroupID:         p.varint("group id"),
	}
	if t&datagramZeroObject == 0 {
		// An explicit 0 is accepted; Append writes it with ZERO_OBJECT_ID.
		d.ObjectID = p.varint("object id")
	}
	if !d.DefaultPriority {
		d.Priority = p.u8("priority")
	}
	if t&datagramProperties != 0 {
		d.Properties = p.bytes("properties", MaxObjectProperties)
		if p.err == nil && len(d.Properties) == 0 {
			p.fail("properties", ErrInvalid, "PROPERTIES bit with an empty block")
		}
	}
	if d.HasStatus {
		d.Status = p.varint("status")
		if p.err == nil && d.Status != StatusNormal && len(d.Properties) > 0 {
			p.fail("properties", ErrInvalid, fmt.Sprintf("properties on an object with status %d", d.Status))
		}
	} else {
		d.Payload = p.rest()
	}
	if p.err != nil {
		*d = Datagram{}
	}
	return p.finish()
}
