package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Reader frames moq-lite messages off a stream. It wraps the stream in a
// bufio.Reader and reads every message body into one reusable buffer, so in
// steady state it does not allocate per message.
//
// End of stream is reported as io.EOF only when the stream ended cleanly
// before the first byte of the thing being read (a varint, a message, a
// typed response or a frame header); an end anywhere inside yields
// io.ErrUnexpectedEOF. Errors of the underlying stream are returned as they
// are. A Reader is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

// NewReader returns a Reader over r. maxMessage bounds every message length
// the Reader accepts; a non-positive value selects [DefaultMaxMessage].
func NewReader(r io.Reader, maxMessage int) *Reader {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	return &Reader{br: bufio.NewReader(r), max: maxMessage}
}

// Reset makes the Reader read from r, discarding any buffered input but
// keeping its buffers and limit.
func (r *Reader) Reset(rd io.Reader) {
	r.br.Reset(rd)
}

// ReadVarint reads one QUIC varint.
func (r *Reader) ReadVarint() (uint64, error) {
	first, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	n := 1 << (first >> 6)
	v := uint64(first & 0x3f)
	for i := 1; i < n; i++ {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// ReadMessage reads one Length | body message and returns the body, which
// stays valid until the next call on r. A length above the Reader's limit
// yields an error wrapping ErrTooLarge before any of the body is read or
// buffer space is allocated for it.
func (r *Reader) ReadMessage() ([]byte, error) {
	n, err := r.ReadVarint()
	if err != nil {
		return nil, err
	}
	return r.readBody(n)
}

// ReadTyped reads one Type | Length | body message (a typed subscribe
// response) and returns the type and the body, which stays valid until the
// next call on r. Limits apply as for ReadMessage.
func (r *Reader) ReadTyped() (typ uint64, body []byte, err error) {
	typ, err = r.ReadVarint()
	if err != nil {
		return 0, nil, err
	}
	n, err := r.ReadVarint()
	if err != nil {
		return 0, nil, unexpected(err)
	}
	body, err = r.readBody(n)
	if err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}

// ReadFrameHeader reads one frame header for version v: Length(i) on 03/04
// (tsDelta is then 0) and Zigzag(tsDelta)(i) | Length(i) on 05. The size is
// not limited here; the caller checks it and then reads the payload with
// Read (for example via io.ReadFull) or skips it with Discard. It returns an
// error wrapping ErrInvalid for an unknown version.
func (r *Reader) ReadFrameHeader(v Version) (tsDelta int64, size uint64, err error) {
	switch v {
	case Lite03, Lite04:
		size, err = r.ReadVarint()
		if err != nil {
			return 0, 0, err
		}
		return 0, size, nil
	case Lite05:
		zz, err := r.ReadVarint()
		if err != nil {
			return 0, 0, err
		}
		size, err = r.ReadVarint()
		if err != nil {
			return 0, 0, unexpected(err)
		}
		return Unzigzag(zz), size, nil
	}
	return 0, 0, versionError("frame header", v)
}

// Read reads raw bytes (such as a frame payload) from the buffered stream.
func (r *Reader) Read(p []byte) (int, error) {
	return r.br.Read(p)
}

// Discard skips the next n raw bytes, returning how many were skipped. An
// end of stream before n bytes yields io.ErrUnexpectedEOF.
func (r *Reader) Discard(n int) (int, error) {
	d, err := r.br.Discard(n)
	if err != nil {
		err = unexpected(err)
	}
	return d, err
}

// readBody reads an n-byte body into the reusable buffer.
func (r *Reader) readBody(n uint64) ([]byte, error) {
	if n > uint64(r.max) {
		return nil, fmt.Errorf("wire: message length %d exceeds limit %d: %w", n, r.max, ErrTooLarge)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	body := r.buf[:n]
	if _, err := io.ReadFull(r.br, body); err != nil {
		return nil, unexpected(err)
	}
	return body, nil
}

// unexpected turns io.EOF into io.ErrUnexpectedEOF: the stream ended inside
// something that had already started.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readChunk is how much ReadFull allocates ahead of the bytes that arrived.
const readChunk = 64 << 10

// ReadFull reads the next n raw bytes (a frame payload) into a new slice.
// The slice grows as bytes arrive, at most readChunk ahead of them, so a
// peer that declares a large frame and sends little costs little memory.
// An end of stream before n bytes yields io.ErrUnexpectedEOF.
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
