package ietf

// RequestOK is REQUEST_OK, the success reply to REQUEST_UPDATE,
// TRACK_STATUS, SUBSCRIBE_NAMESPACE and PUBLISH_NAMESPACE, sent on the
// request's own stream (so it carries no Request ID).
//
// Payload: Params | Track Properties (draft 18+: Key-Value-Pairs to the end).
type RequestOK struct {
	// Params are the reply's Message Parameters.
	Params Params
	// Properties are the Track Properties (draft 18+; must be empty on 17).
	Properties KVPs
}

func (m *RequestOK) bodyLen(v Version) int {
	needVersion(v.known(), "REQUEST_OK", v)
	if len(m.Properties) > 0 && !v.since(Draft18) {
		panicf("REQUEST_OK has no Track Properties in %s", v)
	}
	return m.Params.Len(v) + m.Properties.Len()
}

// Len returns the framed size of m.
func (m *RequestOK) Len(v Version) int { return ControlHeaderLen(MsgRequestOK) + m.bodyLen(v) }

// Append appends the framed message.
func (m *RequestOK) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgRequestOK, m.bodyLen(v))
	b = m.Params.Append(b, v)
	return m.Properties.Append(b)
}

// Parse decodes a REQUEST_OK payload.
func (m *RequestOK) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "REQUEST_OK"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = RequestOK{Params: p.params("parameters")}
	if v.since(Draft18) {
		m.Properties = p.kvps("track properties")
	}
	return p.finish()
}

// Redirect is the optional tail of a draft-18+ REQUEST_ERROR: where the
// request should be sent instead.
type Redirect struct {
	// ConnectURI is the session to connect to; empty means this one.
	ConnectURI string
	// Namespace and Track name the track to request there.
	Namespace Namespace
	// Track is the track name.
	Track string
}

func (r *Redirect) len() int {
	return bytesLen(len(r.ConnectURI)) + namespaceLen(r.Namespace) + bytesLen(len(r.Track))
}

func (r *Redirect) append(b []byte) []byte {
	b = appendBytes(b, r.ConnectURI)
	b = appendNamespace(b, r.Namespace)
	return appendBytes(b, r.Track)
}

// RequestError is REQUEST_ERROR, the error reply to any request, sent on
// the request's stream.
//
// Payload: ErrorCode(vi64) | RetryInterval(vi64) | Reason(Length | bytes) |
// [Redirect] (draft 18+).
type RequestError struct {
	// Code is the error code.
	Code uint64
	// RetryInterval is the Retry Interval field (milliseconds, with the
	// meaning of its special values as the drafts define them).
	RetryInterval uint64
	// Reason is the Reason Phrase (at most MaxReasonLen bytes).
	Reason string
	// Redirect, if non-nil, is the draft-18+ Redirect.
	Redirect *Redirect
}

func (m *RequestError) bodyLen(v Version) int {
	needVersion(v.known(), "REQUEST_ERROR", v)
	if len(m.Reason) > MaxReasonLen {
		panicf("REQUEST_ERROR reason of %d bytes, limit %d", len(m.Reason), MaxReasonLen)
	}
	n := VarintLen(m.Code) + VarintLen(m.RetryInterval) + bytesLen(len(m.Reason))
	if m.Redirect != nil {
		if !v.since(Draft18) {
			panicf("REQUEST_ERROR has no Redirect in %s", v)
		}
		n += m.Redirect.len()
	}
	return n
}

// Len returns the framed size of m.
func (m *RequestError) Len(v Version) int { return ControlHeaderLen(MsgRequestError) + m.bodyLen(v) }

// Append appends the framed message.
func (m *RequestError) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgRequestError, m.bodyLen(v))
	b = AppendVarint(b, m.Code)
	b = AppendVarint(b, m.RetryInterval)
	b = appendBytes(b, m.Reason)
	if m.Redirect != nil {
		b = m.Redirect.append(b)
	}
	return b
}

// Parse decodes a REQUEST_ERROR payload.
func (m *RequestError) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "REQUEST_ERROR"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = RequestError{
		Code:          p.varint("error code"),
		RetryInterval: p.varint("retry interval"),
		Reason:        p.string("reason", MaxReasonLen),
	}
	if v.since(Draft18) && p.err == nil && len(p.b) > 0 {
		r := &Redirect{ConnectURI: p.string("redirect uri", MaxGoawayURILen)}
		r.Namespace = p.namespace("redirect namespace")
		r.Track = p.trackName("redirect track", r.Namespace)
		m.Redirect = r
	}
	if p.err != nil {
		m.Redirect = nil
	}
	return p.finish()
}

// Goaway is GOAWAY, sent on the control stream when an endpoint intends to
// close the session.
//
// Payload: URI(Length | bytes) | Timeout(vi64 ms) | [RequestID(vi64)] (the
// Request ID only on draft 18, and optional there).
type Goaway struct {
	// URI is the New Session URI (at most MaxGoawayURILen bytes); empty
	// means reuse the current one. A client must send it empty.
	URI string
	// TimeoutMs is how long the sender waits before closing with
	// GOAWAY_TIMEOUT, in milliseconds; 0 means unspecified.
	TimeoutMs uint64
	// RequestID is, on draft 18, the smallest peer Request ID not
	// processed; meaningful when HasRequestID.
	RequestID uint64
	// HasRequestID reports whether RequestID is present (draft 18 only).
	HasRequestID bool
}

func (m *Goaway) bodyLen(v Version) int {
	needVersion(v.known(), "GOAWAY", v)
	if len(m.URI) > MaxGoawayURILen {
		panicf("GOAWAY URI of %d bytes, limit %d", len(m.URI), MaxGoawayURILen)
	}
	n := bytesLen(len(m.URI)) + VarintLen(m.TimeoutMs)
	if m.HasRequestID {
		if v != Draft18 {
			panicf("GOAWAY has no Request ID in %s", v)
		}
		n += VarintLen(m.RequestID)
	}
	return n
}

// Len returns the framed size of m.
func (m *Goaway) Len(v Version) int { return ControlHeaderLen(MsgGoaway) + m.bodyLen(v) }

// Append appends the framed message.
func (m *Goaway) Append(b []byte, v Version) []byte {
	b = appendControlHeader(b, MsgGoaway, m.bodyLen(v))
	b = appendBytes(b, m.URI)
	b = AppendVarint(b, m.TimeoutMs)
	if m.HasRequestID {
		b = AppendVarint(b, m.RequestID)
	}
	return b
}

// Parse decodes a GOAWAY payload.
func (m *Goaway) Parse(payload []byte, v Version) error {
	p := parser{b: payload, v: v, msg: "GOAWAY"}
	if !v.known() {
		return versionError(p.msg, v)
	}
	*m = Goaway{URI: p.string("uri", MaxGoawayURILen), TimeoutMs: p.varint("timeout")}
	if v == Draft18 && p.err == nil && len(p.b) > 0 {
		m.RequestID = p.varint("request id")
		m.HasRequestID = p.err == nil
	}
	return p.finish()
}
