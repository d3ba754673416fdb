package ietf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Reader reads draft-17+ framing off a stream: control messages, stream
// types, subgroup and fetch headers and objects. It wraps the stream in a
// bufio.Reader and reads control payloads into one reusable buffer, so in
// steady state it does not allocate per message.
//
// End of stream is reported as io.EOF only when the stream ended cleanly
// before the first byte of the thing being read; an end anywhere inside
// yields io.ErrUnexpectedEOF. Malformed input yields this package's
// sentinels; errors of the underlying stream are returned as they are. A
// Reader is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	v   Version
	max int
	buf []byte
}

// NewReader returns a Reader over r speaking version v. maxMessage bounds
// every control message payload; a non-positive value, or one above
// MaxMessageLen, selects MaxMessageLen.
func NewReader(r io.Reader, v Version, maxMessage int) *Reader {
	if maxMessage <= 0 || maxMessage > MaxMessageLen {
		maxMessage = MaxMessageLen
	}
	return &Reader{br: bufio.NewReader(r), v: v, max: maxMessage}
}

// Version returns the version the Reader decodes.
func (r *Reader) Version() Version { return r.v }

// ReadVarint reads one vi64.
func (r *Reader) ReadVarint() (uint64, error) {
	first, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	n, err := varintSize(first, r.v)
	if err != nil {
		return 0, err
	}
	var b [9]byte
	b[0] = first
	if _, err := io.ReadFull(r.br, b[1:n]); err != nil {
		return 0, unexpected(err)
	}
	x, _, err := ParseVarint(b[:n], r.v)
	return x, err
}

// next reads a varint inside something already started.
func (r *Reader) next() (uint64, error) {
	x, err := r.ReadVarint()
	return x, unexpected(err)
}

// ReadControl reads one Type(vi64) | Length(16) | Payload control message
// and returns its type and payload, which stays valid until the next call on
// r. A length above the Reader's limit yields an error wrapping ErrTooLarge
// before any of the payload is read.
func (r *Reader) ReadControl() (typ uint64, payload []byte, err error) {
	if !r.v.known() {
		return 0, nil, versionError("control message", r.v)
	}
	typ, err = r.ReadVarint()
	if err != nil {
		return 0, nil, err
	}
	payload, err = r.readControlBody(typ)
	return typ, payload, err
}

// ReadControlBody reads the Length(16) | Payload of a control message whose
// type the caller has already read with ReadVarint (as on a stream whose
// first message's type doubles as the stream type). Limits are as for
// ReadControl.
func (r *Reader) ReadControlBody(typ uint64) ([]byte, error) {
	if !r.v.known() {
		return nil, versionError("control message", r.v)
	}
	return r.readControlBody(typ)
}

func (r *Reader) readControlBody(typ uint64) (payload []byte, err error) {
	var l [2]byte
	if _, err := io.ReadFull(r.br, l[:]); err != nil {
		return nil, unexpected(err)
	}
	n := int(l[0])<<8 | int(l[1])
	if n > r.max {
		return nil, fmt.Errorf("ietf: control message 0x%x: length %d exceeds limit %d: %w", typ, n, r.max, ErrTooLarge)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	payload = r.buf[:n]
	if _, err := io.ReadFull(r.br, payload); err != nil {
		return nil, unexpected(err)
	}
	return payload, nil
}

// ReadSubgroupHeader reads the rest of a SUBGROUP_HEADER whose type, typ,
// the caller has already read with ReadVarint.
func (r *Reader) ReadSubgroupHeader(typ uint64) (SubgroupHeader, error) {
	if !IsSubgroupType(typ, r.v) {
		return SubgroupHeader{}, fmt.Errorf("ietf: SUBGROUP_HEADER: type: %w (0x%x in %s)", ErrInvalid, typ, r.v)
	}
	b := AppendVarint(make([]byte, 0, 32), typ)
	mode := SubgroupIDMode(typ & subgroupModeMask >> 1)
	fields := 2
	if mode == SubgroupExplicit {
		fields++
	}
	for range fields {
		x, err := r.next()
		if err != nil {
			return SubgroupHeader{}, err
		}
		b = AppendVarint(b, x)
	}
	if typ&subgroupDefaultPrio == 0 {
		c, err := r.br.ReadByte()
		if err != nil {
			return SubgroupHeader{}, unexpected(err)
		}
		b = append(b, c)
	}
	var h SubgroupHeader
	_, err := h.Parse(b, r.v)
	return h, err
}

// ReadFetchHeader reads the Request ID of a FETCH_HEADER whose type the
// caller has already read.
func (r *Reader) ReadFetchHeader() (FetchHeader, error) {
	id, err := r.next()
	return FetchHeader{RequestID: id}, err
}

// ReadSubgroupObject reads one object of a subgroup stream whose header's
// Properties flag is hasProps. The payload is read into a new slice that
// grows as bytes arrive; a payload longer than maxPayload, or properties
// longer than MaxObjectProperties, yields ErrTooLarge before it is read.
// io.EOF means the stream ended cleanly between objects.
func (r *Reader) ReadSubgroupObject(hasProps bool, maxPayload int) (SubgroupObject, error) {
	var o SubgroupObject
	var err error
	if o.IDDelta, err = r.ReadVarint(); err != nil {
		return SubgroupObject{}, err
	}
	if hasProps {
		if o.Properties, err = r.readBlock("properties", MaxObjectProperties); err != nil {
			return SubgroupObject{}, err
		}
	}
	n, err := r.next()
	if err != nil {
		return SubgroupObject{}, err
	}
	if n == 0 {
		if o.Status, err = r.next(); err != nil {
			return SubgroupObject{}, err
		}
		if o.Status != StatusNormal && len(o.Properties) > 0 {
			return SubgroupObject{}, fmt.Errorf("ietf: subgroup object: properties: %w (status %d)", ErrInvalid, o.Status)
		}
		return o, nil
	}
	if n > uint64(maxPayload) {
		return SubgroupObject{}, fmt.Errorf("ietf: subgroup object: payload of %d bytes exceeds limit %d: %w", n, maxPayload, ErrTooLarge)
	}
	o.Payload, err = r.ReadFull(int(n))
	return o, err
}

// ReadFetchObject reads one object of a fetch stream; limits and io.EOF are
// as for ReadSubgroupObject.
func (r *Reader) ReadFetchObject(maxPayload int) (FetchObject, error) {
	var o FetchObject
	var err error
	if o.Flags, err = r.ReadVarint(); err != nil {
		return FetchObject{}, err
	}
	if !isFetchFlags(o.Flags, r.v) {
		return FetchObject{}, fmt.Errorf("ietf: fetch object: flags: %w (0x%x)", ErrInvalid, o.Flags)
	}
	group, subgroup, object, prio, props := fetchFields(o.Flags)
	for _, f := range []struct {
		on bool
		x  *uint64
	}{{group, &o.Group}, {subgroup, &o.SubgroupID}, {object, &o.Object}} {
		if f.on {
			if *f.x, err = r.next(); err != nil {
				return FetchObject{}, err
			}
		}
	}
	if prio {
		if o.Priority, err = r.br.ReadByte(); err != nil {
			return FetchObject{}, unexpected(err)
		}
	}
	if props {
		if o.Properties, err = r.readBlock("properties", MaxObjectProperties); err != nil {
			return FetchObject{}, err
		}
	}
	n, err := r.next()
	if err != nil || n == 0 {
		return o, err
	}
	if n > uint64(maxPayload) {
		return FetchObject{}, fmt.Errorf("ietf: fetch object: payload of %d bytes exceeds limit %d: %w", n, maxPayload, ErrTooLarge)
	}
	o.Payload, err = r.ReadFull(int(n))
	return o, err
}

// readBlock reads Length(vi64) | bytes of at most max bytes into a new
// slice.
func (r *Reader) readBlock(field string, max int) ([]byte, error) {
	n, err := r.next()
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("ietf: %s: length %d exceeds limit %d: %w", field, n, max, ErrTooLarge)
	}
	return r.ReadFull(int(n))
}

// Read reads raw bytes from the buffered stream.
func (r *Reader) Read(p []byte) (int, error) {
	return r.br.Read(p)
}

// Discard skips the next n raw bytes, returning how many were skipped. An
// end of stream before n bytes yields io.ErrUnexpectedEOF.
func (r *Reader) Discard(n int) (int, error) {
	d, err := r.br.Discard(n)
	return d, unexpected(err)
}

// readChunk is how much ReadFull allocates ahead of the bytes that arrived.
const readChunk = 64 << 10

// ReadFull reads the next n raw bytes into a new slice. The slice grows as
// bytes arrive, at most readChunk ahead of them, so a peer that declares a
// large object and sends little costs little memory. An end of stream before
// n bytes yields io.ErrUnexpectedEOF.
func (r *Reader) ReadFull(n int) ([]byte, error) {
	if n <= readChunk {
		p := make([]byte, n)
		if _, err := io.ReadFull(r.br, p); err != nil {
			return nil, unexpected(err)
		}
		return p, nil
	}
	p := make([]byte, 0, readChunk)
	for len(p) < n {
		if len(p) == cap(p) {
			p = append(p, make([]byte, min(cap(p), n-len(p)))...)[:len(p)]
		}
		m, err := r.br.Read(p[len(p):min(cap(p), n)])
		p = p[:len(p)+m]
		if err != nil && len(p) < n {
			return nil, unexpected(err)
		}
	}
	return p, nil
}

// unexpected turns io.EOF into io.ErrUnexpectedEOF: the stream ended inside
// something that had already started.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
