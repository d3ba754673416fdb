package ietf

// Setup is SETUP, the first message each endpoint writes on its
// unidirectional control stream. Both endpoints send one; there is no
// client/server distinction on draft 17+.
//
// Frame: Type(vi64)=0x2F00 | Length(16) | Setup Options (Key-Value-Pairs to
// the end of the payload, no count). The Type doubles as the uni stream's
// type, so a control stream starts with exactly the bytes [Setup.Append]
// writes, and later control messages follow on the same stream.
type Setup struct {
	// Options are the Setup Options in non-decreasing type order; unknown
	// ones must be ignored by the receiver and are kept here.
	Options KVPs
}

// Len returns the framed size of m.
func (m *Setup) Len(v Version) int {
	needVersion(v.known(), "SETUP", v)
	return ControlHeaderLen(MsgSetup) + m.Options.Len()
}

// Append appends the framed message.
func (m *Setup) Append(b []byte, v Version) []byte {
	needVersion(v.known(), "SETUP", v)
	b = appendControlHeader(b, MsgSetup, m.Options.Len())
	return m.Options.Append(b)
}

// Parse decodes a SETUP payload.
func (m *Setup) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "SETUP"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = Setup{Options: p.kvps("options")}
	return p.finish()
}
