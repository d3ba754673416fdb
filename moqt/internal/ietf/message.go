package ietf

import "fmt"

// Control message types. Every control message, on the control stream pair
// or a request stream, is framed Type(vi64) | Length(16) | Payload.
const (
	// MsgRequestUpdate is REQUEST_UPDATE.
	MsgRequestUpdate uint64 = 0x02
	// MsgSubscribe is SUBSCRIBE.
	MsgSubscribe uint64 = 0x03
	// MsgSubscribeOK is SUBSCRIBE_OK.
	MsgSubscribeOK uint64 = 0x04
	// MsgRequestError is REQUEST_ERROR, the error reply to every request.
	MsgRequestError uint64 = 0x05
	// MsgPublishNamespace is PUBLISH_NAMESPACE.
	MsgPublishNamespace uint64 = 0x06
	// MsgRequestOK is REQUEST_OK.
	MsgRequestOK uint64 = 0x07
	// MsgNamespace is NAMESPACE, sent on a SUBSCRIBE_NAMESPACE stream.
	MsgNamespace uint64 = 0x08
	// MsgPublishDone is PUBLISH_DONE.
	MsgPublishDone uint64 = 0x0b
	// MsgTrackStatus is TRACK_STATUS.
	MsgTrackStatus uint64 = 0x0d
	// MsgNamespaceDone is NAMESPACE_DONE, sent on a SUBSCRIBE_NAMESPACE
	// stream.
	MsgNamespaceDone uint64 = 0x0e
	// MsgPublishBlocked is PUBLISH_BLOCKED (PUBLISH_SKIPPED on 19+).
	MsgPublishBlocked uint64 = 0x0f
	// MsgGoaway is GOAWAY.
	MsgGoaway uint64 = 0x10
	// MsgSubscribeNamespace17 is SUBSCRIBE_NAMESPACE on draft 17.
	MsgSubscribeNamespace17 uint64 = 0x11
	// MsgFetch is FETCH.
	MsgFetch uint64 = 0x16
	// MsgFetchOK is FETCH_OK.
	MsgFetchOK uint64 = 0x18
	// MsgPublish is PUBLISH.
	MsgPublish uint64 = 0x1d
	// MsgPublishOK is PUBLISH_OK (draft 17 only).
	MsgPublishOK uint64 = 0x1e
	// MsgSubscribeNamespace is SUBSCRIBE_NAMESPACE on draft 18+.
	MsgSubscribeNamespace uint64 = 0x50
	// MsgSubscribeTracks is SUBSCRIBE_TRACKS (draft 18+).
	MsgSubscribeTracks uint64 = 0x51
	// MsgSetup is SETUP. Its type is also the stream type of the
	// unidirectional control stream it opens.
	MsgSetup uint64 = 0x2f00
)

// SubscribeNamespaceType returns the SUBSCRIBE_NAMESPACE message type of v:
// 0x11 on draft 17, 0x50 from draft 18.
func SubscribeNamespaceType(v Version) uint64 {
	if v.since(Draft18) {
		return MsgSubscribeNamespace
	}
	return MsgSubscribeNamespace17
}

// ControlHeaderLen is the size of a control message's Type | Length for a
// message type typ.
func ControlHeaderLen(typ uint64) int {
	return VarintLen(typ) + 2
}

// appendControlHeader appends Type(vi64) | Length(16). It panics if n
// exceeds MaxMessageLen.
func appendControlHeader(b []byte, typ uint64, n int) []byte {
	if n > MaxMessageLen {
		panicf("control message 0x%x: %d byte payload, limit %d", typ, n, MaxMessageLen)
	}
	b = AppendVarint(b, typ)
	return append(b, byte(n>>8), byte(n))
}

// ParseControl splits one framed control message off the front of b: its
// type, its payload (aliasing b) and the total bytes it occupied. It returns
// an error wrapping [ErrTruncated] if b ends inside the header or payload,
// and [ErrInvalid] for a reserved varint code point or an unknown version.
// The type is not checked against the version; the caller dispatches on it.
func ParseControl(b []byte, v Version) (typ uint64, payload []byte, n int, err error) {
	if !v.known() {
		return 0, nil, 0, versionError("control message", v)
	}
	p := parser{b: b, v: v, msg: "control message"}
	typ = p.varint("type")
	size := p.u16("length")
	payload = p.raw("payload", uint64(size))
	if p.err != nil {
		return 0, nil, 0, p.err
	}
	return typ, payload, len(b) - len(p.b), nil
}

// Message is implemented by every control message of this package.
type Message interface {
	// Append appends the framed message: Type | Length | Payload.
	Append(b []byte, v Version) []byte
	// Len returns the framed size.
	Len(v Version) int
	// Parse decodes a payload (what ParseControl returns).
	Parse(payload []byte, v Version) error
}

// message is the package-internal name of Message.
type message = Message

// NewMessage returns an empty message for control message type typ in v, or
// nil if typ is not a control message of v (the drafts say to close the
// session then).
func NewMessage(typ uint64, v Version) Message {
	if !v.known() {
		return nil
	}
	switch typ {
	case MsgSetup:
		return new(Setup)
	case MsgRequestUpdate:
		return new(RequestUpdate)
	case MsgSubscribe:
		return new(Subscribe)
	case MsgSubscribeOK:
		return new(SubscribeOK)
	case MsgRequestError:
		return new(RequestError)
	case MsgPublishNamespace:
		return new(PublishNamespace)
	case MsgRequestOK:
		return new(RequestOK)
	case MsgNamespace:
		return new(NamespaceEntry)
	case MsgPublishDone:
		return new(PublishDone)
	case MsgTrackStatus:
		return new(TrackStatus)
	case MsgNamespaceDone:
		return new(NamespaceDone)
	case MsgPublishBlocked:
		return new(PublishBlocked)
	case MsgGoaway:
		return new(Goaway)
	case MsgFetch:
		return new(Fetch)
	case MsgFetchOK:
		return new(FetchOK)
	case MsgPublish:
		return new(Publish)
	case SubscribeNamespaceType(v):
		return new(SubscribeNamespace)
	case MsgPublishOK:
		if v == Draft17 {
			return new(PublishOK)
		}
	case MsgSubscribeTracks:
		if v.since(Draft18) {
			return new(SubscribeTracks)
		}
	}
	return nil
}

// ParseMessage decodes the payload of a control message of type typ, as
// split off by ParseControl or [Reader.ReadControl]. A type that is not a
// control message of v is ErrInvalid. Which messages may appear on which
// stream is the session's business.
func ParseMessage(typ uint64, payload []byte, v Version) (Message, error) {
	m := NewMessage(typ, v)
	if m == nil {
		return nil, fmt.Errorf("ietf: control message: %w (unknown type 0x%x in %s)", ErrInvalid, typ, v)
	}
	if err := m.Parse(payload, v); err != nil {
		return nil, err
	}
	return m, nil
}

// parseFramed checks a framed control message's type and parses its
// payload into m, requiring the frame to fill b exactly.
func parseFramed(m message, want uint64, b []byte, v Version) error {
	typ, payload, n, err := ParseControl(b, v)
	if err != nil {
		return err
	}
	if typ != want {
		return fmt.Errorf("ietf: control message: %w (type 0x%x, want 0x%x)", ErrInvalid, typ, want)
	}
	if n != len(b) {
		return fmt.Errorf("ietf: control message: %w (%d bytes after the message)", ErrTrailing, len(b)-n)
	}
	return m.Parse(payload, v)
}
