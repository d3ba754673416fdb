package wire

import (
	"fmt"
	"unicode/utf8"

	"github.com/quic-go/quic-go/quicvarint"
)

// SETUP parameter IDs (05).
const (
	// SetupParamProbe carries the probe capability level as a varint.
	SetupParamProbe uint64 = 0x1
	// SetupParamPath carries the request path (UTF-8 bytes, client only).
	SetupParamPath uint64 = 0x2
	// SetupParamRole carries the client's role as a varint.
	SetupParamRole uint64 = 0x3
	// SetupParamOrigin carries the endpoint's origin (hop) ID as a varint.
	SetupParamOrigin uint64 = 0x5
)

// Probe levels carried in [Setup.Probe]. A peer treats any unknown higher
// value as ProbeIncrease; [Setup.Parse] keeps the raw value.
const (
	ProbeNone     uint64 = 0 // no probing (the parameter is omitted)
	ProbeReport   uint64 = 1 // the publisher reports its bitrate/RTT
	ProbeIncrease uint64 = 2 // the publisher can also pad the connection
)

// Roles carried in [Setup.Role]. A peer treats 0 and any unknown value as
// RoleBoth; [Setup.Parse] keeps the raw value.
const (
	RoleBoth       uint64 = 0 // both directions (the parameter is omitted)
	RolePublisher  uint64 = 1 // the client will publish
	RoleSubscriber uint64 = 2 // the client will subscribe
)

// Setup is the SETUP message (05 only), the sole message on a unidirectional
// Setup stream ([StreamSetup]).
//
// Body: Count(i) | {ID(i) | Length(i) | Value}*. Varint parameters (Probe,
// Role, Origin) carry one varint as their value bytes; Path carries the raw
// UTF-8 bytes. Append writes, in ID order, Probe if non-zero, Path if HasPath,
// Role if non-zero and Origin if non-zero. Parse accepts at most
// [MaxSetupParams] parameters, rejects duplicate IDs (known or not) and a
// varint parameter whose value is not exactly one varint, and skips unknown
// IDs (such as the 06 Cost parameter 0x4).
type Setup struct {
	// Probe is the probe capability level (ProbeNone, ProbeReport, ...).
	Probe uint64
	// Path is the request path with any "?query" appended; meaningful only
	// when HasPath is set.
	Path string
	// HasPath reports whether the Path parameter is present (an empty Path
	// can be present).
	HasPath bool
	// Role is the client's intended role (RoleBoth, RolePublisher, ...).
	Role uint64
	// Origin is the endpoint's origin (hop) ID; 0 means none.
	Origin uint64
}

func (m *Setup) bodyLen(v Version) int {
	needVersion(v.since(Lite05), "SETUP", v)
	count, n := 0, 0
	varParam := func(id, val uint64) {
		count++
		l := quicvarint.Len(val)
		n += quicvarint.Len(id) + quicvarint.Len(uint64(l)) + l
	}
	if m.Probe != 0 {
		varParam(SetupParamProbe, m.Probe)
	}
	if m.HasPath {
		count++
		n += quicvarint.Len(SetupParamPath) + stringLen(m.Path)
	}
	if m.Role != 0 {
		varParam(SetupParamRole, m.Role)
	}
	if m.Origin != 0 {
		varParam(SetupParamOrigin, m.Origin)
	}
	return quicvarint.Len(uint64(count)) + n
}

func appendVarParam(b []byte, id, val uint64) []byte {
	b = quicvarint.Append(b, id)
	b = quicvarint.Append(b, uint64(quicvarint.Len(val)))
	return quicvarint.Append(b, val)
}

// Append appends Length | body. It panics unless v is 05 or later.
func (m *Setup) Append(b []byte, v Version) []byte {
	b = quicvarint.Append(b, uint64(m.bodyLen(v)))
	count := uint64(0)
	if m.Probe != 0 {
		count++
	}
	if m.HasPath {
		count++
	}
	if m.Role != 0 {
		count++
	}
	if m.Origin != 0 {
		count++
	}
	b = quicvarint.Append(b, count)
	if m.Probe != 0 {
		b = appendVarParam(b, SetupParamProbe, m.Probe)
	}
	if m.HasPath {
		b = quicvarint.Append(b, SetupParamPath)
		b = appendString(b, m.Path)
	}
	if m.Role != 0 {
		b = appendVarParam(b, SetupParamRole, m.Role)
	}
	if m.Origin != 0 {
		b = appendVarParam(b, SetupParamOrigin, m.Origin)
	}
	return b
}

// Len returns len(m.Append(nil, v)).
func (m *Setup) Len(v Version) int { return frameLen(m.bodyLen(v)) }

// Parse decodes one SETUP body. It returns an error wrapping ErrInvalid if v
// is before 05.
func (m *Setup) Parse(body []byte, v Version) error {
	if !v.since(Lite05) {
		return versionError("setup", v)
	}
	p := parser{b: body, msg: "setup"}
	count := p.varint("count")
	if p.err == nil && count > MaxSetupParams {
		p.fail("count", ErrTooLarge, fmt.Sprintf("%d parameters, limit %d", count, MaxSetupParams))
	}
	var out Setup
	var seen [MaxSetupParams]uint64
	for i := 0; p.err == nil && i < int(count); i++ {
		id := p.varint("parameter id")
		val := p.bytes("parameter value")
		if p.err != nil {
			break
		}
		for _, s := range seen[:i] {
			if s == id {
				p.fail("parameter id", ErrInvalid, fmt.Sprintf("duplicate parameter 0x%x", id))
			}
		}
		seen[i] = id
		switch id {
		case SetupParamProbe:
			out.Probe = p.paramVarint(id, val)
		case SetupParamPath:
			if !utf8.Valid(val) {
				p.fail("path", ErrInvalid, "not UTF-8")
			}
			out.Path, out.HasPath = string(val), true
		case SetupParamRole:
			out.Role = p.paramVarint(id, val)
		case SetupParamOrigin:
			out.Origin = p.paramVarint(id, val)
		}
	}
	if err := p.finish(); err != nil {
		return err
	}
	*m = out
	return nil
}

// paramVarint decodes a parameter value that must be exactly one varint.
func (p *parser) paramVarint(id uint64, val []byte) uint64 {
	x, n, err := quicvarint.Parse(val)
	if err != nil || n != len(val) {
		p.fail("parameter value", ErrInvalid, fmt.Sprintf("parameter 0x%x is not a single varint", id))
		return 0
	}
	return x
}
