package ietf

// Publish is PUBLISH, which a publisher sends as the first message on a bidi
// request stream to push a track without waiting for SUBSCRIBE.
//
// Payload: RequestID(vi64) | [RequiredRequestIDDelta(vi64), draft 17] |
// Namespace | TrackName | TrackAlias(vi64) | Params | Track Properties
// (Key-Value-Pairs to the end).
type Publish struct {
	// RequestID identifies the request.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency delta; written on 17
	// only.
	RequiredRequestIDDelta uint64
	// Namespace is the Track Namespace.
	Namespace Namespace
	// Track is the track name.
	Track string
	// TrackAlias is the alias data streams of this track will carry.
	TrackAlias uint64
	// Params are the Message Parameters (FORWARD, LARGEST_OBJECT, ...).
	Params Params
	// Properties are the Track Properties.
	Properties KVPs
}

func (m *Publish) bodyLen(v Version) int {
	needVersion(v.known(), "PUBLISH", v)
	n := VarintLen(m.RequestID) + namespaceLen(m.Namespace) + bytesLen(len(m.Track)) +
		VarintLen(m.TrackAlias) + m.Params.Len(v) + m.Properties.Len()
	if v == Draft17 {
		n += VarintLen(m.RequiredRequestIDDelta)
	}
	return n
}

// Len returns the framed size of m.
func (m *Publish) Len(v Version) int { return ControlHeaderLen(MsgPublish) + m.bodyLen(v) }

// Append appends the framed message.
func (m *Publish) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgPublish, m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	if v == Draft17 {
		b = AppendVarint(b, m.RequiredRequestIDDelta)
	}
	b = appendNamespace(b, m.Namespace)
	b = appendBytes(b, m.Track)
	b = AppendVarint(b, m.TrackAlias)
	b = m.Params.Append(b, v)
	return m.Properties.Append(b)
}

// Parse decodes a PUBLISH payload.
func (m *Publish) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "PUBLISH"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = Publish{RequestID: p.varint("request id")}
	if v == Draft17 {
		m.RequiredRequestIDDelta = p.varint("required request id delta")
	}
	m.Namespace = p.namespace("namespace")
	m.Track = p.trackName("track name", m.Namespace)
	m.TrackAlias = p.varint("track alias")
	m.Params = p.params("parameters")
	m.Properties = p.kvps("track properties")
	return p.finish()
}

// PublishOK is PUBLISH_OK, the subscriber's acceptance of a PUBLISH on
// draft 17. Draft 18 removed it (the reply is REQUEST_OK); Append panics and
// Parse fails with ErrInvalid there.
//
// Payload: Params.
type PublishOK struct {
	// Params are the subscriber's Message Parameters.
	Params Params
}

func (m *PublishOK) bodyLen(v Version) int {
	needVersion(v == Draft17, "PUBLISH_OK", v)
	return m.Params.Len(v)
}

// Len returns the framed size of m.
func (m *PublishOK) Len(v Version) int { return ControlHeaderLen(MsgPublishOK) + m.bodyLen(v) }

// Append appends the framed message.
func (m *PublishOK) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgPublishOK, m.bodyLen(v))
	return m.Params.Append(b, v)
}

// Parse decodes a PUBLISH_OK payload.
func (m *PublishOK) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "PUBLISH_OK"}
	if v != Draft17 {
		return versionError(p.msg, v)
	}
	*m = PublishOK{Params: p.params("parameters")}
	return p.finish()
}

// TrackStatus is TRACK_STATUS, the first and only message on a bidi request
// stream asking for a track's status. Its payload is SUBSCRIBE's (without
// delivery parameters); the reply is REQUEST_OK or REQUEST_ERROR.
type TrackStatus struct {
	// RequestID identifies the request.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency delta; written on 17
	// only.
	RequiredRequestIDDelta uint64
	// Namespace is the Track Namespace.
	Namespace Namespace
	// Track is the track name.
	Track string
	// Params are the Message Parameters.
	Params Params
}

func (m *TrackStatus) sub() *Subscribe {
	return &Subscribe{m.RequestID, m.RequiredRequestIDDelta, m.Namespace, m.Track, m.Params}
}

// Len returns the framed size of m.
func (m *TrackStatus) Len(v Version) int {
	return ControlHeaderLen(MsgTrackStatus) + m.sub().bodyLen(v)
}

// Append appends the framed message.
func (m *TrackStatus) Append(b []byte, v Version) []byte {
	s := m.sub()
	n := len(b)
	b = s.Append(b, v)
	// Same payload as SUBSCRIBE; only the type differs, and both types are
	// one byte.
	b[n] = byte(MsgTrackStatus)
	return b
}

// Parse decodes a TRACK_STATUS payload.
func (m *TrackStatus) Parse(payload []byte, v Version) error {
	var s Subscribe
	err := s.Parse(payload, v)
	*m = TrackStatus{s.RequestID, s.RequiredRequestIDDelta, s.Namespace, s.Track, s.Params}
	return err
}
