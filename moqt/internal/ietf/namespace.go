package ietf

// PublishNamespace is PUBLISH_NAMESPACE, the first message on a bidi
// request stream advertising a namespace. On draft 17+ there is no
// PUBLISH_NAMESPACE_DONE or _CANCEL message: the publisher ends the
// advertisement by closing the stream, the receiver cancels it by resetting
// it, and the reply is REQUEST_OK or REQUEST_ERROR.
//
// Payload: RequestID(vi64) | [RequiredRequestIDDelta(vi64), draft 17] |
// Namespace | Params.
type PublishNamespace struct {
	// RequestID identifies the request.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency delta; written on 17
	// only.
	RequiredRequestIDDelta uint64
	// Namespace is the advertised Track Namespace.
	Namespace Namespace
	// Params are the Message Parameters (@moq/net sends the Cluster
	// extension's HOP_PATH here when negotiated).
	Params Params
}

func (m *PublishNamespace) bodyLen(v Version) int {
	needVersion(v.known(), "PUBLISH_NAMESPACE", v)
	n := VarintLen(m.RequestID) + namespaceLen(m.Namespace) + m.Params.Len(v)
	if v == Draft17 {
		n += VarintLen(m.RequiredRequestIDDelta)
	}
	return n
}

// Len returns the framed size of m.
func (m *PublishNamespace) Len(v Version) int {
	return ControlHeaderLen(MsgPublishNamespace) + m.bodyLen(v)
}

// Append appends the framed message.
func (m *PublishNamespace) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgPublishNamespace, m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	if v == Draft17 {
		b = AppendVarint(b, m.RequiredRequestIDDelta)
	}
	b = appendNamespace(b, m.Namespace)
	return m.Params.Append(b, v)
}

// Parse decodes a PUBLISH_NAMESPACE payload.
func (m *PublishNamespace) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "PUBLISH_NAMESPACE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = PublishNamespace{RequestID: p.varint("request id")}
	if v == Draft17 {
		m.RequiredRequestIDDelta = p.varint("required request id delta")
	}
	m.Namespace = p.namespace("namespace")
	m.Params = p.params("parameters")
	return p.finish()
}

// Subscribe Options of a draft-17 SUBSCRIBE_NAMESPACE.
const (
	// SubscribeOptionPublish asks for PUBLISH messages for matching tracks.
	SubscribeOptionPublish uint64 = 0x00
	// SubscribeOptionNamespace asks for NAMESPACE messages only.
	SubscribeOptionNamespace uint64 = 0x01
	// SubscribeOptionBoth asks for both.
	SubscribeOptionBoth uint64 = 0x02
)

// SubscribeNamespace is SUBSCRIBE_NAMESPACE, the first message on a bidi
// request stream asking for the namespaces under a prefix. Its type is
// [SubscribeNamespaceType]: 0x11 on draft 17, 0x50 on 18+ (where the track
// half moved to SUBSCRIBE_TRACKS, 0x51). The publisher answers with
// REQUEST_OK or REQUEST_ERROR, then NAMESPACE and NAMESPACE_DONE messages on
// the same stream.
//
// Payload: RequestID(vi64) | [RequiredRequestIDDelta(vi64), draft 17] |
// Prefix | [SubscribeOptions(vi64), draft 17] | Params.
type SubscribeNamespace struct {
	// RequestID identifies the request.
	RequestID uint64
	// RequiredRequestIDDelta is draft 17's dependency delta; written on 17
	// only.
	RequiredRequestIDDelta uint64
	// Prefix is the Track Namespace Prefix.
	Prefix Namespace
	// SubscribeOptions is draft 17's SubscribeOption value; written on 17
	// only.
	SubscribeOptions uint64
	// Params are the Message Parameters.
	Params Params
}

func (m *SubscribeNamespace) bodyLen(v Version) int {
	needVersion(v.known(), "SUBSCRIBE_NAMESPACE", v)
	n := VarintLen(m.RequestID) + namespaceLen(m.Prefix) + m.Params.Len(v)
	if v == Draft17 {
		n += VarintLen(m.RequiredRequestIDDelta) + VarintLen(m.SubscribeOptions)
	}
	return n
}

// Len returns the framed size of m.
func (m *SubscribeNamespace) Len(v Version) int {
	return ControlHeaderLen(SubscribeNamespaceType(v)) + m.bodyLen(v)
}

// Append appends the framed message, with v's message type.
func (m *SubscribeNamespace) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, SubscribeNamespaceType(v), m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	if v == Draft17 {
		b = AppendVarint(b, m.RequiredRequestIDDelta)
	}
	b = appendNamespace(b, m.Prefix)
	if v == Draft17 {
		b = AppendVarint(b, m.SubscribeOptions)
	}
	return m.Params.Append(b, v)
}

// Parse decodes a SUBSCRIBE_NAMESPACE payload.
func (m *SubscribeNamespace) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "SUBSCRIBE_NAMESPACE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = SubscribeNamespace{RequestID: p.varint("request id")}
	if v == Draft17 {
		m.RequiredRequestIDDelta = p.varint("required request id delta")
	}
	m.Prefix = p.namespace("prefix")
	if v == Draft17 {
		m.SubscribeOptions = p.varint("subscribe options")
	}
	m.Params = p.params("parameters")
	return p.finish()
}

// NamespaceEntry is NAMESPACE, sent on a SUBSCRIBE_NAMESPACE stream for each
// matching namespace.
//
// Payload: Suffix | [Params]. The drafts define the suffix only; with the
// MoQ Cluster extension negotiated, @moq/net appends Message Parameters
// (HOP_PATH, ROUTE_COST). Parse reads them when bytes follow the suffix.
type NamespaceEntry struct {
	// Suffix is the namespace with the subscribed prefix removed.
	Suffix Namespace
	// Params are the extension's parameters; meaningful when HasParams.
	Params Params
	// HasParams selects the extended form with a Params field.
	HasParams bool
}

func (m *NamespaceEntry) bodyLen(v Version) int {
	needVersion(v.known(), "NAMESPACE", v)
	n := namespaceLen(m.Suffix)
	if m.HasParams {
		n += m.Params.Len(v)
	}
	return n
}

// Len returns the framed size of m.
func (m *NamespaceEntry) Len(v Version) int { return ControlHeaderLen(MsgNamespace) + m.bodyLen(v) }

// Append appends the framed message.
func (m *NamespaceEntry) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgNamespace, m.bodyLen(v))
	b = appendNamespace(b, m.Suffix)
	if m.HasParams {
		b = m.Params.Append(b, v)
	}
	return b
}

// Parse decodes a NAMESPACE payload.
func (m *NamespaceEntry) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "NAMESPACE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = NamespaceEntry{Suffix: p.namespace("suffix")}
	if p.err == nil && len(p.b) > 0 {
		m.Params = p.params("parameters")
		m.HasParams = p.err == nil
	}
	return p.finish()
}

// NamespaceDone is NAMESPACE_DONE, sent on a SUBSCRIBE_NAMESPACE stream
// when a namespace previously sent in NAMESPACE is gone.
//
// Payload: Suffix.
type NamespaceDone struct {
	// Suffix is the namespace with the subscribed prefix removed.
	Suffix Namespace
}

func (m *NamespaceDone) bodyLen(v Version) int {
	needVersion(v.known(), "NAMESPACE_DONE", v)
	return namespaceLen(m.Suffix)
}

// Len returns the framed size of m.
func (m *NamespaceDone) Len(v Version) int { return ControlHeaderLen(MsgNamespaceDone) + m.bodyLen(v) }

// Append appends the framed message.
func (m *NamespaceDone) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgNamespaceDone, m.bodyLen(v))
	return appendNamespace(b, m.Suffix)
}

// Parse decodes a NAMESPACE_DONE payload.
func (m *NamespaceDone) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "NAMESPACE_DONE"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = NamespaceDone{Suffix: p.namespace("suffix")}
	return p.finish()
}

// SubscribeTracks is SUBSCRIBE_TRACKS (draft 18+), the first message on a
// bidi request stream asking for PUBLISH of every track under a prefix (the
// track half of draft 17's SUBSCRIBE_NAMESPACE). @moq/net rejects it.
//
// Payload: RequestID(vi64) | Prefix | Params.
type SubscribeTracks struct {
	// RequestID identifies the request.
	RequestID uint64
	// Prefix is the Track Namespace Prefix.
	Prefix Namespace
	// Params are the Message Parameters.
	Params Params
}

func (m *SubscribeTracks) bodyLen(v Version) int {
	needVersion(v.since(Draft18), "SUBSCRIBE_TRACKS", v)
	return VarintLen(m.RequestID) + namespaceLen(m.Prefix) + m.Params.Len(v)
}

// Len returns the framed size of m.
func (m *SubscribeTracks) Len(v Version) int {
	return ControlHeaderLen(MsgSubscribeTracks) + m.bodyLen(v)
}

// Append appends the framed message.
func (m *SubscribeTracks) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgSubscribeTracks, m.bodyLen(v))
	b = AppendVarint(b, m.RequestID)
	b = appendNamespace(b, m.Prefix)
	return m.Params.Append(b, v)
}

// Parse decodes a SUBSCRIBE_TRACKS payload; on draft 17 it fails with
// ErrInvalid.
func (m *SubscribeTracks) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "SUBSCRIBE_TRACKS"}
	if !v.since(Draft18) {
		return versionError(p.msg, v)
	}
	*m = SubscribeTracks{RequestID: p.varint("request id"), Prefix: p.namespace("prefix")}
	m.Params = p.params("parameters")
	return p.finish()
}

// PublishBlocked is PUBLISH_BLOCKED (PUBLISH_SKIPPED from draft 19), sent
// on a SUBSCRIBE_NAMESPACE stream for a matching track the publisher will
// not PUBLISH.
//
// Payload: Suffix | TrackName.
type PublishBlocked struct {
	// Suffix is the track's namespace with the subscribed prefix removed.
	Suffix Namespace
	// Track is the track name.
	Track string
}

func (m *PublishBlocked) bodyLen(v Version) int {
	needVersion(v.known(), "PUBLISH_BLOCKED", v)
	return namespaceLen(m.Suffix) + bytesLen(len(m.Track))
}

// Len returns the framed size of m.
func (m *PublishBlocked) Len(v Version) int {
	return ControlHeaderLen(MsgPublishBlocked) + m.bodyLen(v)
}

// Append appends the framed message.
func (m *PublishBlocked) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgPublishBlocked, m.bodyLen(v))
	b = appendNamespace(b, m.Suffix)
	return appendBytes(b, m.Track)
}

// Parse decodes a PUBLISH_BLOCKED payload.
func (m *PublishBlocked) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "PUBLISH_BLOCKED"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = PublishBlocked{Suffix: p.namespace("suffix")}
	m.Track = p.trackName("track name", m.Suffix)
	return p.finish()
}
