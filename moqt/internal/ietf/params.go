package ietf

import "fmt"

// KVP is one Key-Value-Pair, the structure of Setup Options, Track
// Properties and Object Properties. An even Type carries a varint Value; an
// odd Type carries Bytes (at most [MaxKVPValueLen]).
//
// On the wire each Type is the delta from the previous pair's Type (from 0
// for the first), so a list must be in non-decreasing Type order. Equal
// types (delta 0) are allowed: the drafts let receivers see duplicates of
// unknown options.
type KVP struct {
	// Type identifies the pair; its parity selects the value's form.
	Type uint64
	// Value is the value of an even Type.
	Value uint64
	// Bytes is the value of an odd Type. Parsed values alias the input.
	Bytes []byte
}

// KVPs is a list of Key-Value-Pairs in non-decreasing Type order.
type KVPs []KVP

// Get returns the first pair of type t.
func (l KVPs) Get(t uint64) (KVP, bool) {
	for _, kv := range l {
		if kv.Type == t {
			return kv, true
		}
	}
	return KVP{}, false
}

// Len returns the encoded size of the pairs.
func (l KVPs) Len() int {
	n := 0
	var prev uint64
	for _, kv := range l {
		n += VarintLen(kv.Type - prev)
		prev = kv.Type
		if kv.Type%2 == 0 {
			n += VarintLen(kv.Value)
		} else {
			n += bytesLen(len(kv.Bytes))
		}
	}
	return n
}

// Append appends the pairs, delta-encoding their types. It panics if the
// types are not in non-decreasing order or an odd pair's Bytes are longer
// than MaxKVPValueLen.
func (l KVPs) Append(b []byte) []byte {
	var prev uint64
	for i, kv := range l {
		if i > 0 && kv.Type < prev {
			panicf("key-value pairs out of order: type %d after %d", kv.Type, prev)
		}
		b = AppendVarint(b, kv.Type-prev)
		prev = kv.Type
		if kv.Type%2 == 0 {
			b = AppendVarint(b, kv.Value)
			continue
		}
		if len(kv.Bytes) > MaxKVPValueLen {
			panicf("key-value pair %d: %d bytes, limit %d", kv.Type, len(kv.Bytes), MaxKVPValueLen)
		}
		b = appendBytes(b, kv.Bytes)
	}
	return b
}

// kvps reads Key-Value-Pairs until the end of the body. A delta that takes
// the type past 2^64-1 is ErrInvalid; a byte value longer than
// MaxKVPValueLen is ErrTooLarge. The count is bounded by the body's length.
func (p *parser) kvps(field string) KVPs {
	var l KVPs
	var prev uint64
	for p.err == nil && len(p.b) > 0 {
		d := p.varint(field)
		t := prev + d
		if t < prev {
			p.fail(field, ErrInvalid, "type overflows 64 bits")
			break
		}
		prev = t
		kv := KVP{Type: t}
		if t%2 == 0 {
			kv.Value = p.varint(field)
		} else {
			kv.Bytes = p.bytes(field, MaxKVPValueLen)
		}
		l = append(l, kv)
	}
	if p.err != nil {
		return nil
	}
	return l
}

// ParseKVPs decodes b, all of it, as Key-Value-Pairs in version v's varint.
// This is how Object Properties blocks, carried raw by [Object], are read.
func ParseKVPs(b []byte, v Version) (KVPs, error) {
	p := parser{b: b, v: v, msg: "key-value pairs"}
	if !v.known() {
		return nil, versionError(p.msg, v)
	}
	l := p.kvps("pair")
	return l, p.finish()
}

// Setup Option types (a registry shared by every version).
const (
	// OptionPath (bytes) is the path of the MoQ URI on native QUIC.
	OptionPath uint64 = 0x01
	// OptionAuthorizationToken (bytes) is a Token structure.
	OptionAuthorizationToken uint64 = 0x03
	// OptionMaxAuthTokenCacheSize (varint) is the token cache limit.
	OptionMaxAuthTokenCacheSize uint64 = 0x04
	// OptionAuthority (bytes) is the authority of the MoQ URI on native QUIC.
	OptionAuthority uint64 = 0x05
	// OptionMaxFilterRanges (varint, draft 19+).
	OptionMaxFilterRanges uint64 = 0x06
	// OptionImplementation (bytes) names the MOQT implementation.
	OptionImplementation uint64 = 0x07
	// OptionMaxRequestUpdates (varint, draft 19+).
	OptionMaxRequestUpdates uint64 = 0x08
	// OptionRelayHops (bytes) is the MoQ Cluster extension's hop ID option,
	// as @moq/net sends it.
	OptionRelayHops uint64 = 0x40b55
	// OptionRelayCost (varint) is the MoQ Cluster extension's relay cost.
	OptionRelayCost uint64 = 0x40b56
	// OptionSolicit (varint) is the MoQ Solicit extension's option: 1 asks
	// the peer to wait for SUBSCRIBE_NAMESPACE before advertising.
	OptionSolicit uint64 = 0x40b5a
)

// Message Parameter types known to this package.
const (
	// ParamDeliveryTimeout (varint, ms): DELIVERY_TIMEOUT on 17,
	// OBJECT_DELIVERY_TIMEOUT on 18+.
	ParamDeliveryTimeout uint64 = 0x02
	// ParamAuthorizationToken (length-prefixed Token).
	ParamAuthorizationToken uint64 = 0x03
	// ParamRendezvousTimeout (varint); @moq/net calls it MAX_CACHE_DURATION.
	ParamRendezvousTimeout uint64 = 0x04
	// ParamSubgroupDeliveryTimeout (varint, draft 18+).
	ParamSubgroupDeliveryTimeout uint64 = 0x06
	// ParamExpires (varint, ms).
	ParamExpires uint64 = 0x08
	// ParamLargestObject (Location).
	ParamLargestObject uint64 = 0x09
	// ParamFillTimeout (varint, draft 18+).
	ParamFillTimeout uint64 = 0x0a
	// ParamForward (uint8, 0 or 1).
	ParamForward uint64 = 0x10
	// ParamSubscriberPriority (uint8).
	ParamSubscriberPriority uint64 = 0x20
	// ParamSubscriptionFilter (length-prefixed): SUBSCRIPTION_FILTER on
	// 17–18, LOCATION_FILTER on 19+; its inside changed on 20.
	ParamSubscriptionFilter uint64 = 0x21
	// ParamGroupOrder (uint8).
	ParamGroupOrder uint64 = 0x22
	// ParamFillParameters (length-prefixed, draft 20, as @moq/net sends it).
	ParamFillParameters uint64 = 0x23
	// ParamSubgroupFilter (length-prefixed, draft 19+).
	ParamSubgroupFilter uint64 = 0x25
	// ParamObjectIDFilter (length-prefixed, draft 19+).
	ParamObjectIDFilter uint64 = 0x26
	// ParamPriorityFilter (length-prefixed, draft 19+).
	ParamPriorityFilter uint64 = 0x27
	// ParamObjectPropertyFilter (length-prefixed, draft 19+).
	ParamObjectPropertyFilter uint64 = 0x28
	// ParamTrackPropertyFilter (length-prefixed, draft 19+).
	ParamTrackPropertyFilter uint64 = 0x29
	// ParamNewGroupRequest (varint).
	ParamNewGroupRequest uint64 = 0x32
	// ParamTrackNamespacePrefix (length-prefixed, draft 18+).
	ParamTrackNamespacePrefix uint64 = 0x34
	// ParamIncludeProperties (draft 20): a uint8 in the draft, but @moq/net
	// length-prefixes it (odd type), and so does this package.
	ParamIncludeProperties uint64 = 0x35
	// ParamHopPath (length-prefixed): the MoQ Cluster extension's hop chain.
	ParamHopPath uint64 = 0x40b57
	// ParamRouteCost (varint): the MoQ Cluster extension's path cost.
	ParamRouteCost uint64 = 0x40b58
)

// paramKind is how a Message Parameter's value is serialized.
type paramKind uint8

const (
	kindUnknown paramKind = iota
	kindVarint
	kindUint8
	kindBool
	kindLocation
	kindBytes
)

// paramKindOf returns the serialization of parameter type t in v, or
// kindUnknown if t is not defined there.
func paramKindOf(t uint64, v Version) paramKind {
	switch t {
	case ParamDeliveryTimeout, ParamRendezvousTimeout, ParamExpires, ParamNewGroupRequest, ParamRouteCost:
		return kindVarint
	case ParamSubgroupDeliveryTimeout, ParamFillTimeout:
		if v.since(Draft18) {
			return kindVarint
		}
	case ParamSubscriberPriority, ParamGroupOrder:
		return kindUint8
	case ParamForward:
		return kindBool
	case ParamLargestObject:
		return kindLocation
	case ParamAuthorizationToken, ParamSubscriptionFilter, ParamHopPath:
		return kindBytes
	case ParamTrackNamespacePrefix:
		if v.since(Draft18) {
			return kindBytes
		}
	case ParamSubgroupFilter, ParamObjectIDFilter, ParamPriorityFilter, ParamObjectPropertyFilter, ParamTrackPropertyFilter:
		if v.since(Draft19) {
			return kindBytes
		}
	case ParamFillParameters, ParamIncludeProperties:
		if v.since(Draft20) {
			return kindBytes
		}
	}
	return kindUnknown
}

// Param is one Message Parameter. Which field holds the value depends on
// the type: Value for varint, uint8 and bool (0/1) parameters, Location for
// LARGEST_OBJECT, Bytes for length-prefixed ones.
type Param struct {
	// Type is the parameter type, one of the Param constants.
	Type uint64
	// Value is the value of a varint, uint8 or bool parameter.
	Value uint64
	// Location is the value of a Location parameter.
	Location Location
	// Bytes is the value of a length-prefixed parameter. Parsed values
	// alias the input.
	Bytes []byte
}

// Params is a list of Message Parameters in strictly ascending Type order.
// On the wire: Count(vi64) | (TypeDelta(vi64) | Value)*, each value
// serialized as its type defines.
//
// Deviation from the draft text: LARGEST_OBJECT (0x09) is written with a
// Length before its two varints, as @moq/net 0.3.4 does (the draft says two
// bare varints).
type Params []Param

// Get returns the parameter of type t.
func (l Params) Get(t uint64) (Param, bool) {
	for _, p := range l {
		if p.Type == t {
			return p, true
		}
	}
	return Param{}, false
}

// kind returns p's serialization in v; it panics for a type unknown in v.
func (p Param) kind(v Version) paramKind {
	k := paramKindOf(p.Type, v)
	if k == kindUnknown {
		panicf("message parameter 0x%x is not defined in %s", p.Type, v)
	}
	return k
}

// valueLen is the encoded size of p's value.
func (p Param) valueLen(v Version) int {
	switch p.kind(v) {
	case kindVarint:
		return VarintLen(p.Value)
	case kindUint8, kindBool:
		return 1
	case kindLocation:
		return bytesLen(locationLen(p.Location))
	}
	return bytesLen(len(p.Bytes))
}

// Len returns the encoded size of the list in v, count included.
func (l Params) Len(v Version) int {
	n := VarintLen(uint64(len(l)))
	var prev uint64
	for _, p := range l {
		n += VarintLen(p.Type-prev) + p.valueLen(v)
		prev = p.Type
	}
	return n
}

// Append appends the count and the parameters. It panics if the types are
// not strictly ascending or unknown in v, or a value does not fit its type.
func (l Params) Append(b []byte, v Version) []byte {
	b = AppendVarint(b, uint64(len(l)))
	var prev uint64
	for i, p := range l {
		if i > 0 && p.Type <= prev {
			panicf("message parameters out of order: type 0x%x after 0x%x", p.Type, prev)
		}
		b = AppendVarint(b, p.Type-prev)
		prev = p.Type
		switch p.kind(v) {
		case kindVarint:
			b = AppendVarint(b, p.Value)
		case kindUint8:
			if p.Value > 0xff {
				panicf("message parameter 0x%x: value %d does not fit in a uint8", p.Type, p.Value)
			}
			b = append(b, byte(p.Value))
		case kindBool:
			if p.Value > 1 {
				panicf("message parameter 0x%x: value %d is not 0 or 1", p.Type, p.Value)
			}
			b = append(b, byte(p.Value))
		case kindLocation:
			b = AppendVarint(b, uint64(locationLen(p.Location)))
			b = appendLocation(b, p.Location)
		default:
			if len(p.Bytes) > MaxKVPValueLen {
				panicf("message parameter 0x%x: %d bytes, limit %d", p.Type, len(p.Bytes), MaxKVPValueLen)
			}
			b = appendBytes(b, p.Bytes)
		}
	}
	return b
}

// params reads Count(vi64) and that many parameters. An unknown type, a
// duplicate (delta 0 after the first), a type past 2^64-1, a bool other than
// 0/1 or a Location with bytes left over is ErrInvalid. The count is checked
// against the bytes left before anything is allocated.
func (p *parser) params(field string) Params {
	n := p.varint(field)
	if p.err != nil {
		return nil
	}
	// Each parameter takes at least two bytes.
	if n > uint64(len(p.b))/2 {
		p.fail(field, ErrTruncated, fmt.Sprintf("%d parameters in %d bytes", n, len(p.b)))
		return nil
	}
	if n == 0 {
		return nil
	}
	l := make(Params, 0, n)
	var prev uint64
	for i := uint64(0); i < n && p.err == nil; i++ {
		d := p.varint(field)
		if p.err != nil {
			break
		}
		t := prev + d
		if t < prev {
			p.fail(field, ErrInvalid, "type overflows 64 bits")
			break
		}
		if i > 0 && d == 0 {
			p.fail(field, ErrInvalid, fmt.Sprintf("duplicate parameter 0x%x", t))
			break
		}
		prev = t
		q := Param{Type: t}
		switch paramKindOf(t, p.v) {
		case kindVarint:
			q.Value = p.varint(field)
		case kindUint8:
			q.Value = uint64(p.u8(field))
		case kindBool:
			if p.bool(field) {
				q.Value = 1
			}
		case kindLocation:
			inner := parser{b: p.bytes(field, MaxKVPValueLen), v: p.v, msg: p.msg}
			if p.err != nil {
				break
			}
			q.Location = inner.location(field)
			if inner.err != nil || len(inner.b) != 0 {
				p.fail(field, ErrInvalid, fmt.Sprintf("malformed Location in parameter 0x%x", t))
			}
		case kindBytes:
			q.Bytes = p.bytes(field, MaxKVPValueLen)
		default:
			p.fail(field, ErrInvalid, fmt.Sprintf("unknown parameter 0x%x", t))
		}
		l = append(l, q)
	}
	if p.err != nil {
		return nil
	}
	return l
}
