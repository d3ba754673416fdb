package ietf

// Subscribe is SUBSCRIBE, the first message on a subscription's bidi
// request stream.
//
// Payload: RequestID(vi64) | [RequiredRequestIDDelta(vi64), draft 17] |
// Namespace | TrackName(Length | bytes) | Params. The subscriber priority,
// group order, forward flag and filter are Message Parameters; the filter
// (0x21) is carried raw, as its encoding changed on draft 20.
type Subscribe struct {
	// RequestID identifies the request: even from the client, odd from the
	// server.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency on an earlier
	// request (0 for none); written on 17 only.
	RequiredRequestIDDelta uint64
	// Namespace is the Track Namespace.
	Namespace Namespace
	// Track is the track name; with Namespace at most MaxFullTrackName
	// bytes.
	Track string
	// Params are the Message Parameters.
	Params Params
}

func (m *Subscribe) bodyLen(v Version) int {
	needVersion(v.known(), "SUBSCRIBE", v)
	n := VarintLen(m.RequestID) + namespaceLen(m.Namespace) + bytesLen(len(m.Track)) + m.Params.Len(v)
	if v == Draft17 {
		n += VarintLen(m.RequiredRequestIDDelta)
	}
	return n
}

// Len returns the framed size of m.
func (m *Subscribe) Len(v Version) int { return ControlHeaderLen(MsgSubscribe) + m.bodyLen(v) }

// Append appends the framed message.
func (m *Subscribe) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgSubscribe, m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	if v == Draft17 {
		b = AppendVarint(b, m.RequiredRequestIDDelta)
	}
	b = appendNamespace(b, m.Namespace)
	b = appendBytes(b, m.Track)
	return m.Params.Append(b, v)
}

// Parse decodes a SUBSCRIBE payload.
func (m *Subscribe) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "SUBSCRIBE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = Subscribe{RequestID: p.varint("request id")}
	if v == Draft17 {
		m.RequiredRequestIDDelta = p.varint("required request id delta")
	}
	m.Namespace = p.namespace("namespace")
	m.Track = p.trackName("track name", m.Namespace)
	m.Params = p.params("parameters")
	return p.finish()
}

// SubscribeOK is SUBSCRIBE_OK, the publisher's first reply on a
// subscription's stream.
//
// Payload: TrackAlias(vi64) | Params | Track Properties (Key-Value-Pairs to
// the end).
type SubscribeOK struct {
	// TrackAlias is the ID that data streams and datagrams of this
	// subscription carry.
	TrackAlias uint64
	// Params are the Message Parameters (LARGEST_OBJECT, EXPIRES, ...).
	Params Params
	// Properties are the Track Properties, such as TIMESCALE (0x08) and
	// DEFAULT_PUBLISHER_GROUP_ORDER (0x22).
	Properties KVPs
}

func (m *SubscribeOK) bodyLen(v Version) int {
	needVersion(v.known(), "SUBSCRIBE_OK", v)
	return VarintLen(m.TrackAlias) + m.Params.Len(v) + m.Properties.Len()
}

// Len returns the framed size of m.
func (m *SubscribeOK) Len(v Version) int { return ControlHeaderLen(MsgSubscribeOK) + m.bodyLen(v) }

// Append appends the framed message.
func (m *SubscribeOK) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgSubscribeOK, m.bodyLen(v))
	b = AppendVarint(b, m.TrackAlias)
	b = m.Params.Append(b, v)
	return m.Properties.Append(b)
}

// Parse decodes a SUBSCRIBE_OK payload.
func (m *SubscribeOK) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "SUBSCRIBE_OK"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = SubscribeOK{TrackAlias: p.varint("track alias"), Params: p.params("parameters")}
	m.Properties = p.kvps("track properties")
	return p.finish()
}

// RequestUpdate is REQUEST_UPDATE, which changes the parameters of an
// existing request (SUBSCRIBE_UPDATE in earlier drafts).
//
// Payload: RequestID(vi64) | [RequiredRequestIDDelta(vi64), draft 17] |
// Params.
type RequestUpdate struct {
	// RequestID is this update's own Request ID.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency delta; written on 17
	// only.
	RequiredRequestIDDelta uint64
	// Params are the updated Message Parameters.
	Params Params
}

func (m *RequestUpdate) bodyLen(v Version) int {
	needVersion(v.known(), "REQUEST_UPDATE", v)
	n := VarintLen(m.RequestID) + m.Params.Len(v)
	if v == Draft17 {
		n += VarintLen(m.RequiredRequestIDDelta)
	}
	return n
}

// Len returns the framed size of m.
func (m *RequestUpdate) Len(v Version) int { return ControlHeaderLen(MsgRequestUpdate) + m.bodyLen(v) }

// Append appends the framed message.
func (m *RequestUpdate) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgRequestUpdate, m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	if v == Draft17 {
		b = AppendVarint(b, m.RequiredRequestIDDelta)
	}
	return m.Params.Append(b, v)
}

// Parse decodes a REQUEST_UPDATE payload.
func (m *RequestUpdate) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "REQUEST_UPDATE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = RequestUpdate{RequestID: p.varint("request id")}
	if v == Draft17 {
		m.RequiredRequestIDDelta = p.varint("required request id delta")
	}
	m.Params = p.params("parameters")
	return p.finish()
}

// PublishDone is PUBLISH_DONE, the publisher's last message on a
// subscription's stream.
//
// Payload: StatusCode(vi64) | StreamCount(vi64) | Reason(Length | bytes).
type PublishDone struct {
	// StatusCode says why the subscription ended.
	StatusCode uint64
	// StreamCount is the number of data streams the publisher opened for
	// the subscription (@moq/net always sends 0).
	StreamCount uint64
	// Reason is the Reason Phrase (at most MaxReasonLen bytes).
	Reason string
}

func (m *PublishDone) bodyLen(v Version) int {
	needVersion(v.known(), "PUBLISH_DONE", v)
	if len(m.Reason) > MaxReasonLen {
		panicf("PUBLISH_DONE reason of %d bytes, limit %d", len(m.Reason), MaxReasonLen)
	}
	return VarintLen(m.StatusCode) + VarintLen(m.StreamCount) + bytesLen(len(m.Reason))
}

// Len returns the framed size of m.
func (m *PublishDone) Len(v Version) int { return ControlHeaderLen(MsgPublishDone) + m.bodyLen(v) }

// Append appends the framed message.
func (m *PublishDone) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgPublishDone, m.bodyLen(v))
	b = AppendVarint(b, m.StatusCode)
	b = AppendVarint(b, m.StreamCount)
	return appendBytes(b, m.Reason)
}

// Parse decodes a PUBLISH_DONE payload.
func (m *PublishDone) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "PUBLISH_DONE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = PublishDone{
		StatusCode:  p.varint("status code"),
		StreamCount: p.varint("stream count"),
		Reason:      p.string("reason", MaxReasonLen),
	}
	return p.finish()
}
