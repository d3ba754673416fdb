package ietf

import "fmt"

// FilterKind is the meaning of a LOCATION_FILTER (SUBSCRIPTION_FILTER on
// drafts 17–18) parameter value.
type FilterKind uint8

const (
	// FilterNone is draft 20's empty value: no filter (from {0, 0}, open
	// ended). Drafts 17–19 express it only by omitting the parameter.
	FilterNone FilterKind = iota
	// FilterNextGroup (drafts 17–19, tag 0x1) starts at the next group.
	// Draft 20 spells it FilterRelative with RelativeGroups 0.
	FilterNextGroup
	// FilterLargestObject (tag 0x2 on 17–19; StartGroup = StartObject = 0
	// on 20, "Next Object") starts after the largest object.
	FilterLargestObject
	// FilterAbsoluteStart (tag 0x3 on 17–19) starts at Start, open ended.
	FilterAbsoluteStart
	// FilterAbsoluteRange (tag 0x4 on 17–19) runs from Start to EndGroup
	// (and on draft 20 optionally EndObject).
	FilterAbsoluteRange
	// FilterRelative (draft 20 only) starts RelativeGroups groups before
	// the next group: 0 is the next group, 1 the current one.
	FilterRelative
)

// Filter Type tags of drafts 17–19.
const (
	filterTagNextGroup     = 0x1
	filterTagLargestObject = 0x2
	filterTagAbsoluteStart = 0x3
	filterTagAbsoluteRange = 0x4
)

// LocationFilter is the decoded value of the LOCATION_FILTER parameter
// ([ParamSubscriptionFilter], 0x21), whose encoding changed on draft 20:
// drafts 17–19 carry FilterType(vi64) | [Start(Location)] |
// [EndGroupDelta(vi64)]; draft 20 carries zero to four varints
// StartGroup | StartObject | EndGroupDelta | EndObject whose count selects
// the meaning.
type LocationFilter struct {
	// Kind is the filter's meaning.
	Kind FilterKind
	// Start is the first Location of the absolute kinds.
	Start Location
	// EndGroup is FilterAbsoluteRange's last group (absolute; sent as a
	// delta from Start.Group).
	EndGroup uint64
	// EndObject is draft 20's last object of an absolute range; meaningful
	// when HasEndObject.
	EndObject uint64
	// HasEndObject reports whether EndObject is present (draft 20 only).
	HasEndObject bool
	// RelativeGroups is FilterRelative's count of groups back.
	RelativeGroups uint64
}

// fields returns the varints of f's value in v. It panics if f cannot be
// expressed in v.
func (f *LocationFilter) fields(v Version) []uint64 {
	needVersion(v.known(), "LOCATION_FILTER", v)
	if f.HasEndObject && (f.Kind != FilterAbsoluteRange || !v.since(Draft20)) {
		panicf("location filter: EndObject needs an absolute range on draft 20")
	}
	delta := func() uint64 {
		if f.EndGroup < f.Start.Group {
			panicf("location filter: end group %d before start group %d", f.EndGroup, f.Start.Group)
		}
		return f.EndGroup - f.Start.Group
	}
	if v.since(Draft20) {
		switch f.Kind {
		case FilterNone:
			return nil
		case FilterLargestObject:
			return []uint64{0, 0}
		case FilterAbsoluteStart:
			if f.Start == (Location{}) {
				panicf("location filter: absolute start {0, 0} is spelled FilterNone on draft 20")
			}
			return []uint64{f.Start.Group, f.Start.Object}
		case FilterAbsoluteRange:
			l := []uint64{f.Start.Group, f.Start.Object, delta()}
			if f.HasEndObject {
				l = append(l, f.EndObject)
			}
			return l
		case FilterRelative:
			return []uint64{f.RelativeGroups}
		}
		panicf("location filter kind %d does not exist in %s", f.Kind, v)
	}
	switch f.Kind {
	case FilterNextGroup:
		return []uint64{filterTagNextGroup}
	case FilterLargestObject:
		return []uint64{filterTagLargestObject}
	case FilterAbsoluteStart:
		return []uint64{filterTagAbsoluteStart, f.Start.Group, f.Start.Object}
	case FilterAbsoluteRange:
		return []uint64{filterTagAbsoluteRange, f.Start.Group, f.Start.Object, delta()}
	}
	panicf("location filter kind %d does not exist in %s", f.Kind, v)
	return nil
}

// Len returns the size of the parameter value (without its Length).
func (f *LocationFilter) Len(v Version) int {
	n := 0
	for _, x := range f.fields(v) {
		n += VarintLen(x)
	}
	return n
}

// Append appends the parameter value (without its Length), for use as the
// Bytes of a [ParamSubscriptionFilter] [Param].
func (f *LocationFilter) Append(b []byte, v Version) []byte {
	for _, x := range f.fields(v) {
		b = AppendVarint(b, x)
	}
	return b
}

// Parse decodes a parameter value. An unknown tag, more than four fields
// or an end group past 2^64-1 is ErrInvalid; a value ending inside a field
// or a tag without its fields is ErrTruncated.
func (f *LocationFilter) Parse(b []byte, v Version) error {
	p := parser{b: b, v: v, msg: "LOCATION_FILTER"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*f = LocationFilter{}
	if v.since(Draft20) {
		var l []uint64
		for p.err == nil && len(p.b) > 0 {
			if len(l) == 4 {
				p.fail("fields", ErrInvalid, "more than four fields")
				break
			}
			l = append(l, p.varint("field"))
		}
		if p.err != nil {
			return p.err
		}
		switch len(l) {
		case 0:
			f.Kind = FilterNone
		case 1:
			f.Kind, f.RelativeGroups = FilterRelative, l[0]
		case 2:
			f.Kind, f.Start = FilterAbsoluteStart, Location{l[0], l[1]}
			if f.Start == (Location{}) {
				f.Kind, f.Start = FilterLargestObject, Location{}
			}
		default:
			f.Kind, f.Start = FilterAbsoluteRange, Location{l[0], l[1]}
			f.EndGroup = l[0] + l[2]
			if f.EndGroup < l[0] {
				*f = LocationFilter{}
				return fmt.Errorf("ietf: %s: end group: %w (overflows 64 bits)", p.msg, ErrInvalid)
			}
			if len(l) == 4 {
				f.EndObject, f.HasEndObject = l[3], true
			}
		}
		return nil
	}
	switch tag := p.varint("filter type"); {
	case p.err != nil:
	case tag == filterTagNextGroup:
		f.Kind = FilterNextGroup
	case tag == filterTagLargestObject:
		f.Kind = FilterLargestObject
	case tag == filterTagAbsoluteStart:
		f.Kind, f.Start = FilterAbsoluteStart, p.location("start")
	case tag == filterTagAbsoluteRange:
		f.Kind, f.Start = FilterAbsoluteRange, p.location("start")
		d := p.varint("end group delta")
		f.EndGroup = f.Start.Group + d
		if p.err == nil && f.EndGroup < d {
			p.fail("end group delta", ErrInvalid, "overflows 64 bits")
		}
	default:
		p.fail("filter type", ErrInvalid, fmt.Sprintf("type %d", tag))
	}
	if err := p.finish(); err != nil {
		*f = LocationFilter{}
		return err
	}
	return nil
}
